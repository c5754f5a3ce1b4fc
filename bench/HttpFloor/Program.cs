// The HTTP floor for the load benchmark: Kestrel reading a KMS-sized JSON body and answering fixed JSON,
// with no cryptography. Emulator throughput is reported as a fraction of this app's, measured in the same run.
using System.Text.Json;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
var app = builder.Build();

var response = """{"CiphertextBlob":"AQDvmypI17JDkYAtTBJeION1AAAAAa1GC8cIPVbJGrtV3cgyZ1Zq321doNVeCakkatXWlmqfpx0yka0y","KeyId":"arn:aws:kms:us-east-1:111122223333:key/ef9b2a48-d7b2-4391-802d-4c125e20e375","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"""u8.ToArray();

app.MapPost("/", async (HttpContext context) =>
{
    using var body = await JsonDocument.ParseAsync(context.Request.Body);
    context.Response.ContentType = "application/x-amz-json-1.1";
    context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
    context.Response.ContentLength = response.Length;
    await context.Response.Body.WriteAsync(response);
});

app.Run();
