using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The emulator-only clock control: <c>/_emulator/clock</c> (with Kms:Admin:Enabled) moves the clock forward, and
/// Kms:ClockOffset starts it ahead; key dates, deletion and the audit trail follow it. Off unless enabled.
/// </summary>
public sealed class ClockControlTests
{
    [Fact]
    public async Task Advancing_the_clock_ends_a_deletion_window_and_the_trail_follows_the_clock()
    {
        await using var host = await EmulatorHost.StartNewAsync("--Kms:Admin:Enabled=true");
        using var kms = host.CreateClient();
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };
        var keyId = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        var scheduled = await kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = keyId, PendingWindowInDays = 7 });

        var before = await http.GetFromJsonAsync<JsonObject>("/_emulator/clock");
        var moved = await http.PostAsJsonAsync("/_emulator/clock", new { advanceSeconds = TimeSpan.FromDays(7).TotalSeconds + 1 });
        moved.EnsureSuccessStatusCode();
        var after = (await moved.Content.ReadFromJsonAsync<JsonObject>())!;

        Assert.Equal(0, (double)before!["offsetSeconds"]!);
        Assert.Equal(TimeSpan.FromDays(7).TotalSeconds + 1, (double)after["offsetSeconds"]!);
        Assert.True(DateTimeOffset.Parse((string)after["now"]!, System.Globalization.CultureInfo.InvariantCulture) > scheduled.DeletionDate);
        await KmsAssert.ErrorAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId }), "NotFoundException");
        var deleteKey = Assert.Single(await host.FlushAndReadAsync(), r => (string?)r["eventName"] == "DeleteKey");
        Assert.Equal("AwsServiceEvent", (string?)deleteKey["eventType"]);
        Assert.Equal(keyId, (string?)deleteKey["serviceEventDetails"]!["keyId"]);

        var created = await kms.CreateKeyAsync(new CreateKeyRequest());
        Assert.True(created.KeyMetadata.CreationDate > scheduled.DeletionDate);
        var record = (await host.FlushAndReadAsync()).ByRequestId(created.ResponseMetadata.RequestId);
        Assert.Equal(CloudTrailTime(host.Clock.GetUtcNow() + TimeSpan.FromDays(7) + TimeSpan.FromSeconds(1)), (string?)record["eventTime"]);
    }

    [Fact]
    public async Task The_clock_only_moves_forward()
    {
        await using var host = await EmulatorHost.StartNewAsync("--Kms:Admin:Enabled=true");
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };

        var backwards = await http.PostAsJsonAsync("/_emulator/clock", new { advanceSeconds = -60 });
        var garbage = await http.PostAsync("/_emulator/clock", new StringContent("not json"));

        Assert.Equal(HttpStatusCode.BadRequest, backwards.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Equal(0, (double)(await http.GetFromJsonAsync<JsonObject>("/_emulator/clock"))!["offsetSeconds"]!);
    }

    [Fact]
    public async Task Without_the_option_there_is_no_clock_control()
    {
        await using var host = await EmulatorHost.StartNewAsync();
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };

        var response = await http.PostAsJsonAsync("/_emulator/clock", new { advanceSeconds = 60 });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode); // the KMS endpoint's answer to a request without a target
        Assert.Contains("UnknownOperationException", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_start_up_offset_starts_the_clock_ahead()
    {
        await using var host = await EmulatorHost.StartNewAsync("--Kms:ClockOffset=30.00:00:00");
        using var kms = host.CreateClient();

        var created = await kms.CreateKeyAsync(new CreateKeyRequest());

        var expected = host.Clock.GetUtcNow() + TimeSpan.FromDays(30);
        Assert.InRange(created.KeyMetadata.CreationDate!.Value.ToUniversalTime(), expected.UtcDateTime.AddSeconds(-1), expected.UtcDateTime.AddSeconds(1));
    }

    private static string CloudTrailTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
