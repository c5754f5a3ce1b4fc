using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Generated.Runtime;
using KmsEmulator.Api.Protocol.CloudTrail;
using KmsEmulator.ModelGen;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The hand-written LookupEvents shapes (Protocol/CloudTrail/CloudTrailShapes.cs) against the CloudTrail model
/// (../shared/aws-models/cloudtrail-2013-11-01.service-2.json, where present): member names, JSON types, constraints,
/// enums, the target prefix and the errors LookupEvents may answer.
/// </summary>
public sealed class CloudTrailShapeTests
{
    private const string ModelFileName = "cloudtrail-2013-11-01.service-2.json";

    private static readonly Lazy<JsonDocument?> Model = new(() =>
    {
        var root = RepositoryLayout.FindRoot(AppContext.BaseDirectory);
        var path = Path.Combine(Path.GetDirectoryName(RepositoryLayout.ModelPath(root))!, ModelFileName);
        return File.Exists(path) ? JsonDocument.Parse(File.ReadAllText(path)) : null;
    });

    private static JsonElement RequireModel()
    {
        Skip.If(Model.Value is null, $"The CloudTrail model ({ModelFileName}) is not beside the KMS model; nothing to check against.");
        return Model.Value!.RootElement;
    }

    private static JsonElement Shape(string name) => RequireModel().GetProperty("shapes").GetProperty(name);

    public static TheoryData<Type> Shapes() => [typeof(LookupEventsRequest), typeof(LookupAttribute), typeof(LookupEventsResponse), typeof(Event), typeof(Resource)];

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void Each_shape_has_exactly_the_models_members_with_matching_JSON_types(Type type)
    {
        var shape = Shape(type.Name);
        Assert.Equal("structure", shape.GetProperty("type").GetString());
        var members = shape.GetProperty("members").EnumerateObject().ToDictionary(m => m.Name, m => m.Value.GetProperty("shape").GetString()!);
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? p.Name);

        Assert.Equal(members.Keys.Order(), properties.Keys.Order());
        foreach (var (name, target) in members)
        {
            var property = properties[name];
            var modelType = Shape(target).GetProperty("type").GetString();
            var clrType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            switch (modelType)
            {
                case "string":
                    Assert.Equal(typeof(string), clrType);
                    break;
                case "integer":
                    Assert.Equal(typeof(int), clrType);
                    break;
                case "timestamp":
                    Assert.Equal(typeof(DateTimeOffset), clrType);
                    Assert.Equal(typeof(EpochSecondsJsonConverter), property.GetCustomAttribute<JsonConverterAttribute>()?.ConverterType);
                    break;
                case "list":
                    Assert.True(clrType.IsGenericType && clrType.GetGenericTypeDefinition() == typeof(List<>), $"{type.Name}.{name} should be a list");
                    var element = clrType.GetGenericArguments()[0];
                    Assert.Equal(Shape(target).GetProperty("member").GetProperty("shape").GetString(), (Nullable.GetUnderlyingType(element) ?? element).Name);
                    break;
                default:
                    Assert.Fail($"{type.Name}.{name}: model type {modelType} is not expected in LookupEvents");
                    break;
            }
        }
    }

    [SkippableFact]
    public void The_constraints_and_enums_match_the_model()
    {
        var maxResults = Shape(Shape("LookupEventsRequest").GetProperty("members").GetProperty("MaxResults").GetProperty("shape").GetString()!);
        Assert.Equal(1, maxResults.GetProperty("min").GetInt32());
        Assert.Equal(LookupEventsRequest.MaxResultsMax, maxResults.GetProperty("max").GetInt32());

        var value = Shape(Shape("LookupAttribute").GetProperty("members").GetProperty("AttributeValue").GetProperty("shape").GetString()!);
        Assert.Equal(1, value.GetProperty("min").GetInt32());
        Assert.Equal(LookupEventsRequest.AttributeValueMax, value.GetProperty("max").GetInt32());
        Assert.Equal(["AttributeKey", "AttributeValue"], Shape("LookupAttribute").GetProperty("required").EnumerateArray().Select(e => e.GetString()));

        var keys = Shape("LookupAttributeKey").GetProperty("enum").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(keys, Enum.GetNames<LookupAttributeKey>());
        Assert.Equal([CloudTrailEndpoint.InsightCategory], Shape("EventCategory").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
    }

    [SkippableFact]
    public void The_target_prefix_signing_name_and_errors_are_the_models()
    {
        var model = RequireModel();
        var metadata = model.GetProperty("metadata");
        Assert.Equal(CloudTrailEndpoint.TargetPrefix, metadata.GetProperty("targetPrefix").GetString() + ".");
        Assert.Equal("1.1", metadata.GetProperty("jsonVersion").GetString());
        var signingName = metadata.TryGetProperty("signingName", out var signing) ? signing.GetString() : metadata.GetProperty("endpointPrefix").GetString();
        Assert.Equal(CloudTrailEndpoint.SigningName, signingName);

        var operation = model.GetProperty("operations").GetProperty(CloudTrailEndpoint.LookupEvents);
        Assert.Equal("LookupEventsRequest", operation.GetProperty("input").GetProperty("shape").GetString());
        Assert.Equal("LookupEventsResponse", operation.GetProperty("output").GetProperty("shape").GetString());
        var errors = operation.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("shape").GetString()).ToHashSet();
        string[] answered =
        [
            "InvalidLookupAttributesException", "InvalidTimeRangeException", "InvalidMaxResultsException",
            "InvalidNextTokenException", "InvalidEventCategoryException", "UnsupportedOperationException",
        ];
        Assert.All(answered, code => Assert.Contains(code, errors));
    }

    [Fact]
    public void A_NextToken_is_bound_to_the_query_it_came_from()
    {
        var query = new AuditLookup("111122223333", "us-east-1", (LookupAttributeKey.EventName, "Encrypt"), DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), null, 5);
        var cursor = new AuditCursor(1_700_000_123, 42);
        var token = LookupToken.Encode(query, cursor);

        Assert.Equal(cursor, LookupToken.Decode(token, query));
        Assert.Equal(cursor, LookupToken.Decode(token, query with { MaxResults = 50 }));
        Assert.Null(LookupToken.Decode(token, query with { Attribute = (LookupAttributeKey.EventName, "Decrypt") }));
        Assert.Null(LookupToken.Decode(token, query with { Attribute = (LookupAttributeKey.Username, "Encrypt") }));
        Assert.Null(LookupToken.Decode(token, query with { Attribute = null }));
        Assert.Null(LookupToken.Decode(token, query with { StartTime = null }));
        Assert.Null(LookupToken.Decode(token, query with { EndTime = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000) }));
        Assert.Null(LookupToken.Decode(token, query with { AccountId = "444455556666" }));
        Assert.Null(LookupToken.Decode(token, query with { Region = "eu-west-1" }));
        Assert.Null(LookupToken.Decode(token[..^2] + (token[^2] == 'A' ? "BA" : "AA"), query));
        Assert.Null(LookupToken.Decode("not a token", query));
        Assert.Null(LookupToken.Decode(string.Empty, query));
    }
}
