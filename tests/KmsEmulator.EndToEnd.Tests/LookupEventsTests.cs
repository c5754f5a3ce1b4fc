using System.Text.Json;
using KmsEmulator.Api.Audit;
using Microsoft.Extensions.DependencyInjection;
using static KmsEmulator.EndToEnd.Tests.CloudTrailHttp;
using static KmsEmulator.EndToEnd.Tests.LookupFixture;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// CloudTrail LookupEvents on the KMS port, over raw signed HTTP: the calls of <see cref="LookupFixture"/> come back
/// newest first, filtered by each attribute, by time and page by page, and bad requests get CloudTrail's errors.
/// </summary>
public sealed class LookupEventsTests(LookupFixture fixture) : IClassFixture<LookupFixture>
{
    private readonly string _url = fixture.Url;

    private async Task<CloudTrailAnswer> All() => await LookupAsync(_url, new { }, Alice);

    [Fact]
    public async Task Without_attributes_every_call_comes_back_newest_first_with_its_full_record()
    {
        var answer = await All();

        Assert.Equal(NewestFirst, answer.EventNames);
        Assert.Null(answer.NextToken);
        var times = answer.Events.Select(e => e.GetProperty("EventTime").GetInt64()).ToList();
        Assert.Equal(times.OrderDescending(), times);
        Assert.True(times.Count == times.Distinct().Count(), string.Join(",", answer.Events.Select(e => e.GetProperty("EventName").GetString() + "@" + e.GetProperty("EventTime").GetRawText() + "/" + JsonDocument.Parse(e.GetProperty("CloudTrailEvent").GetString()!).RootElement.GetProperty("eventTime").GetString())));
        foreach (var e in answer.Events)
        {
            var record = JsonDocument.Parse(e.GetProperty("CloudTrailEvent").GetString()!).RootElement;
            Assert.Equal(e.GetProperty("EventId").GetString(), record.GetProperty("eventID").GetString());
            Assert.Equal(e.GetProperty("EventName").GetString(), record.GetProperty("eventName").GetString());
            Assert.Equal("kms.amazonaws.com", e.GetProperty("EventSource").GetString());
            Assert.Equal(record.GetProperty("readOnly").GetBoolean() ? "true" : "false", e.GetProperty("ReadOnly").GetString());
            Assert.Equal(DateTimeOffset.Parse(record.GetProperty("eventTime").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeSeconds(), e.GetProperty("EventTime").GetInt64());
            Assert.Equal(
                record.GetProperty("resources").EnumerateArray().Select(r => r.GetProperty("ARN").GetString()),
                e.GetProperty("Resources").EnumerateArray().Select(r => r.GetProperty("ResourceName").GetString()));
            Assert.All(e.GetProperty("Resources").EnumerateArray(), r => Assert.Equal("AWS::KMS::Key", r.GetProperty("ResourceType").GetString()));
        }

        var bobs = answer.Events[5];
        Assert.Equal("bob", bobs.GetProperty("Username").GetString());
        Assert.Equal(Bob.AccessKeyId, bobs.GetProperty("AccessKeyId").GetString());
        Assert.Equal("root", answer.Events[2].GetProperty("Username").GetString());
        var failed = JsonDocument.Parse(answer.Events[1].GetProperty("CloudTrailEvent").GetString()!).RootElement;
        Assert.Equal("NotFoundException", failed.GetProperty("errorCode").GetString());
    }

    [Theory]
    [InlineData("EventName", "Encrypt", new[] { "Encrypt", "Encrypt", "Encrypt" })]
    [InlineData("EventName", "GenerateRandom", new string[0])]
    [InlineData("ReadOnly", "false", new[] { "CreateKey", "CreateKey" })]
    [InlineData("ReadOnly", "true", new[] { "Encrypt", "DescribeKey", "ListKeys", "Decrypt", "Encrypt", "Encrypt" })]
    [InlineData("Username", "bob", new[] { "Encrypt" })]
    [InlineData("Username", "root", new[] { "ListKeys" })]
    [InlineData("AccessKeyId", "AKIDLOOKUPBOB", new[] { "Encrypt" })]
    [InlineData("EventSource", "kms.amazonaws.com", new[] { "Encrypt", "DescribeKey", "ListKeys", "Decrypt", "CreateKey", "Encrypt", "Encrypt", "CreateKey" })]
    [InlineData("EventSource", "s3.amazonaws.com", new string[0])]
    [InlineData("ResourceType", "AWS::KMS::Key", new[] { "Encrypt", "Decrypt", "CreateKey", "Encrypt", "Encrypt", "CreateKey" })]
    [InlineData("ResourceType", "AWS::S3::Bucket", new string[0])]
    public async Task Each_attribute_selects_its_events(string key, string value, string[] expected)
    {
        var answer = await LookupAsync(_url, Attribute(key, value), Alice);

        Assert.Equal(expected, answer.EventNames);
    }

    [Fact]
    public async Task ResourceName_selects_the_events_of_one_key()
    {
        var key1 = await LookupAsync(_url, Attribute("ResourceName", fixture.Key1Arn), Alice);
        var key2 = await LookupAsync(_url, Attribute("ResourceName", fixture.Key2Arn), Alice);

        Assert.Equal(["Decrypt", "Encrypt", "Encrypt", "CreateKey"], key1.EventNames);
        Assert.Equal(["Encrypt", "CreateKey"], key2.EventNames);
    }

    [Fact]
    public async Task EventId_selects_exactly_that_event()
    {
        var all = (await All()).Events;
        var id = all[3].GetProperty("EventId").GetString()!;

        var answer = await LookupAsync(_url, Attribute("EventId", id), Alice);

        Assert.Equal(["Decrypt"], answer.EventNames);
        Assert.Equal(id, answer.Events[0].GetProperty("EventId").GetString());
    }

    [Fact]
    public async Task StartTime_and_EndTime_are_inclusive()
    {
        var times = (await All()).Events.Select(e => e.GetProperty("EventTime").GetInt64()).ToList();

        var middle = await LookupAsync(_url, new { StartTime = times[5], EndTime = times[3] }, Alice);
        var since = await LookupAsync(_url, new { StartTime = times[1] }, Alice);
        var until = await LookupAsync(_url, new { EndTime = times[6] }, Alice);
        var withAttribute = await LookupAsync(
            _url,
            new { LookupAttributes = new[] { new { AttributeKey = "EventName", AttributeValue = "Encrypt" } }, StartTime = times[5] },
            Alice);

        Assert.Equal(["Decrypt", "CreateKey", "Encrypt"], middle.EventNames);
        Assert.Equal(["Encrypt", "DescribeKey"], since.EventNames);
        Assert.Equal(["Encrypt", "CreateKey"], until.EventNames);
        Assert.Equal(["Encrypt", "Encrypt"], withAttribute.EventNames);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task MaxResults_and_NextToken_page_through_every_event_once(int pageSize)
    {
        var names = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var answer = await LookupAsync(_url, new { MaxResults = pageSize, NextToken = token }, Alice);
            Assert.InRange(answer.Events.Length, 1, pageSize);
            names.AddRange(answer.EventNames);
            token = answer.NextToken;
            pages++;
        }
        while (token is not null);

        Assert.Equal(NewestFirst, names);
        Assert.Equal((NewestFirst.Length + pageSize - 1) / pageSize, pages);
    }

    [Fact]
    public async Task A_NextToken_pages_a_filtered_lookup_and_is_refused_with_other_parameters()
    {
        var first = await LookupAsync(_url, new { LookupAttributes = new[] { new { AttributeKey = "EventName", AttributeValue = "Encrypt" } }, MaxResults = 2 }, Alice);
        Assert.Equal(["Encrypt", "Encrypt"], first.EventNames);
        Assert.NotNull(first.NextToken);

        var second = await LookupAsync(
            _url, new { LookupAttributes = new[] { new { AttributeKey = "EventName", AttributeValue = "Encrypt" } }, MaxResults = 2, NextToken = first.NextToken }, Alice);
        var elsewhere = await CallAsync(
            _url, JsonSerializer.Serialize(new { LookupAttributes = new[] { new { AttributeKey = "EventName", AttributeValue = "CreateKey" } }, NextToken = first.NextToken }), Alice);
        var withoutAttribute = await CallAsync(_url, JsonSerializer.Serialize(new { NextToken = first.NextToken }), Alice);

        Assert.Equal(["Encrypt"], second.EventNames);
        Assert.Null(second.NextToken);
        Assert.Equal("InvalidNextTokenException", elsewhere.ErrorCode);
        Assert.Equal("InvalidNextTokenException", withoutAttribute.ErrorCode);
    }

    public static TheoryData<string, string, string> BadRequests() => new()
    {
        {
            """{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"Encrypt"},{"AttributeKey":"Username","AttributeValue":"bob"}]}""",
            "InvalidLookupAttributesException", "at most one lookup attribute"
        },
        { """{"LookupAttributes":[{"AttributeKey":"KeyId","AttributeValue":"x"}]}""", "InvalidLookupAttributesException", "'KeyId'" },
        { """{"LookupAttributes":[{"AttributeKey":"eventname","AttributeValue":"x"}]}""", "InvalidLookupAttributesException", "Lookup attribute key is not valid" },
        { """{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":""}]}""", "InvalidLookupAttributesException", "Lookup attribute value is not valid" },
        { """{"LookupAttributes":[{"AttributeKey":"EventName"}]}""", "InvalidLookupAttributesException", "needs an AttributeValue" },
        { $$"""{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"{{new string('a', 2001)}}"}]}""", "InvalidLookupAttributesException", "2001 characters" },
        { """{"StartTime":1700000100,"EndTime":1700000000}""", "InvalidTimeRangeException", "is after the end time" },
        { """{"MaxResults":0}""", "InvalidMaxResultsException", "A max results value of 0 is invalid" },
        { """{"MaxResults":51}""", "InvalidMaxResultsException", "between 1 and 50" },
        { """{"NextToken":"not-a-token"}""", "InvalidNextTokenException", "NextToken is not valid" },
        { """{"EventCategory":"management"}""", "InvalidEventCategoryException", "'management'" },
        { """{"MaxResults":"ten"}""", "SerializationException", "MaxResults" },
        { "[1,2]", "SerializationException", "not a valid JSON object" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_bad_request_gets_CloudTrails_error(string body, string code, string messagePart)
    {
        var answer = await CallAsync(_url, body, Alice);

        Assert.Equal(400, answer.Status);
        Assert.Equal(code, answer.ErrorCode);
        Assert.Contains(messagePart, answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventCategory_insight_answers_no_events()
    {
        var answer = await LookupAsync(_url, new { EventCategory = "insight" }, Alice);

        Assert.Empty(answer.Events);
        Assert.Null(answer.NextToken);
    }

    [Fact]
    public async Task Another_CloudTrail_operation_answers_UnsupportedOperationException_naming_it()
    {
        var answer = await CallAsync(_url, "{}", Alice, operation: "DescribeTrails");

        Assert.Equal(400, answer.Status);
        Assert.Equal("UnsupportedOperationException", answer.ErrorCode);
        Assert.Contains("DescribeTrails", answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_signed_for_kms_is_refused_at_the_CloudTrail_target()
    {
        var answer = await CallAsync(_url, "{}", Alice, service: "kms");

        Assert.Equal("InvalidSignatureException", answer.ErrorCode);
        Assert.Contains("scoped to correct service: 'cloudtrail'", answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_principal_whose_policies_do_not_allow_cloudtrail_LookupEvents_is_denied()
    {
        var answer = await CallAsync(_url, "{}", Bob);

        Assert.Equal(400, answer.Status);
        Assert.Equal("AccessDeniedException", answer.ErrorCode);
        Assert.Equal(
            "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action",
            answer.Message);
    }

    [Fact]
    public async Task The_account_root_sees_its_accounts_events_and_another_account_or_region_sees_none_of_them()
    {
        var root = await LookupAsync(_url, new { }, Root);
        var otherAccount = await LookupAsync(_url, new { }, Root with { AccessKeyId = "444455556666" });
        var otherRegion = await CallAsync(_url, "{}", Alice, region: "eu-west-1");

        Assert.Equal(NewestFirst, root.EventNames);
        Assert.Empty(otherAccount.Events);
        Assert.Equal(200, otherRegion.Status);
        Assert.Empty(otherRegion.Events);
    }

    [Fact]
    public async Task Lookups_are_not_recorded_in_the_KMS_trail()
    {
        await LookupAsync(_url, new { }, Alice);
        await CallAsync(_url, "{}", Bob);
        await fixture.Host.Services.GetRequiredService<AuditTrail>().FlushAsync();

        Assert.Equal(NewestFirst, (await All()).EventNames);
    }
}

/// <summary>Strict mode: LookupEvents signatures are verified like KMS ones, and only allowed principals may look up.</summary>
public sealed class StrictLookupEventsTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(StrictPrincipals.Configuration());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task The_root_looks_up_verified_calls_a_principal_without_the_permission_is_denied_and_a_bad_signature_is_refused()
    {
        using var admin = _host.Client(StrictPrincipals.Admin);
        var keyArn = (await admin.CreateKeyAsync(new Amazon.KeyManagementService.Model.CreateKeyRequest())).KeyMetadata.Arn;
        await _host.Services.GetRequiredService<AuditTrail>().FlushAsync();

        var root = await LookupAsync(_host.Url, Attribute("ResourceName", keyArn), StrictPrincipals.Admin);
        var alice = await CallAsync(_host.Url, "{}", StrictPrincipals.Alice);
        var forged = await CallAsync(_host.Url, "{}", StrictPrincipals.Admin with { Secret = "not-the-admin-secret" });
        var unknown = await CallAsync(_host.Url, "{}", StrictPrincipals.Admin with { AccessKeyId = "AKIDNOBODY" });

        Assert.Equal(["CreateKey"], root.EventNames);
        Assert.Equal("AccessDeniedException", alice.ErrorCode);
        Assert.Contains("cloudtrail:LookupEvents", alice.Message, StringComparison.Ordinal);
        Assert.Equal("InvalidSignatureException", forged.ErrorCode);
        Assert.Equal("UnrecognizedClientException", unknown.ErrorCode);
    }
}

/// <summary>The index outlives the process: lookups, the last use of each key and the tracking start survive a restart.</summary>
public sealed class AuditIndexRestartTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task After_a_restart_the_events_the_last_key_use_and_the_tracking_start_are_still_there()
    {
        var trackingStart = _host.Services.GetRequiredService<KmsEmulator.Api.Keys.KeyUsageTracker>().TrackingStart;
        string keyArn;
        using (var kms = _host.CreateClient())
        {
            _host.Clock.Advance(TimeSpan.FromSeconds(1));
            keyArn = (await kms.CreateKeyAsync(new Amazon.KeyManagementService.Model.CreateKeyRequest())).KeyMetadata.Arn;
            _host.Clock.Advance(TimeSpan.FromSeconds(1));
            await kms.EncryptAsync(new Amazon.KeyManagementService.Model.EncryptRequest { KeyId = keyArn, Plaintext = Blob.Of("x") });
        }

        await _host.Services.GetRequiredService<AuditTrail>().FlushAsync();
        var before = await LookupAsync(_host.Url, new { }, LookupFixture.Root);
        var encryptId = before.Events[0].GetProperty("EventId").GetString();

        _host.Clock.Advance(TimeSpan.FromDays(2));
        _host = await _host.RestartAsync();

        var tracker = _host.Services.GetRequiredService<KmsEmulator.Api.Keys.KeyUsageTracker>();
        var lastUse = await tracker.LastAsync(keyArn, CancellationToken.None);
        var after = await LookupAsync(_host.Url, new { }, LookupFixture.Root);
        Assert.Equal(["Encrypt", "CreateKey"], before.EventNames);
        Assert.Equal(before.EventNames, after.EventNames);
        Assert.Equal(trackingStart, tracker.TrackingStart);
        Assert.NotNull(lastUse);
        Assert.Equal("Encrypt", lastUse.Operation);
        Assert.Equal(encryptId, lastUse.CloudTrailEventId);
    }

    [Fact]
    public async Task Events_older_than_the_retention_are_not_answered_and_are_pruned_at_the_next_start()
    {
        using (var kms = _host.CreateClient())
        {
            await kms.ListKeysAsync(new Amazon.KeyManagementService.Model.ListKeysRequest());
        }

        await _host.Services.GetRequiredService<AuditTrail>().FlushAsync();
        Assert.Equal(["ListKeys"], (await LookupAsync(_host.Url, new { }, LookupFixture.Root)).EventNames);

        _host.Clock.Advance(TimeSpan.FromDays(91));
        var whileRunning = await LookupAsync(_host.Url, new { }, LookupFixture.Root);
        _host = await _host.RestartAsync();

        // Not answered as soon as it is past the retention, and gone from the index after the next start.
        Assert.Empty(whileRunning.Events);
        var index = _host.Services.GetRequiredService<IAuditIndex>();
        var stored = await index.LookupAsync(new AuditLookup(Accounts.Default, Accounts.DefaultRegion, null, null, null, 50), CancellationToken.None);
        Assert.Empty(stored.Events);
    }
}
