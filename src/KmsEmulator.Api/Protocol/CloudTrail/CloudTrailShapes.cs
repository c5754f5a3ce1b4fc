using System.Text.Json.Serialization;
using KmsEmulator.Api.Generated.Runtime;

namespace KmsEmulator.Api.Protocol.CloudTrail;

// The LookupEvents wire shapes of the CloudTrail model (cloudtrail-2013-11-01), written by hand: the KMS generator
// reads one model into one namespace, and these are six small records. CloudTrailShapeTests (KmsEmulator.Api.Tests)
// checks their member names, JSON types and constraints against the model file where it is present.

/// <summary>LookupEventsRequest.</summary>
public sealed class LookupEventsRequest
{
    public const int MaxResultsMax = 50;

    public const int AttributeValueMax = 2000;

    [JsonPropertyName("LookupAttributes")]
    public List<LookupAttribute?>? LookupAttributes { get; set; }

    [JsonPropertyName("StartTime")]
    [JsonConverter(typeof(EpochSecondsJsonConverter))]
    public DateTimeOffset? StartTime { get; set; }

    [JsonPropertyName("EndTime")]
    [JsonConverter(typeof(EpochSecondsJsonConverter))]
    public DateTimeOffset? EndTime { get; set; }

    [JsonPropertyName("EventCategory")]
    public string? EventCategory { get; set; }

    [JsonPropertyName("MaxResults")]
    public int? MaxResults { get; set; }

    [JsonPropertyName("NextToken")]
    public string? NextToken { get; set; }
}

/// <summary>LookupAttribute: AttributeKey (LookupAttributeKey enum) and AttributeValue (1 to 2000 characters).</summary>
public sealed class LookupAttribute
{
    [JsonPropertyName("AttributeKey")]
    public string? AttributeKey { get; set; }

    [JsonPropertyName("AttributeValue")]
    public string? AttributeValue { get; set; }
}

/// <summary>LookupEventsResponse.</summary>
public sealed class LookupEventsResponse
{
    [JsonPropertyName("Events")]
    public List<Event> Events { get; set; } = [];

    [JsonPropertyName("NextToken")]
    public string? NextToken { get; set; }
}

/// <summary>Event: one event of the history; CloudTrailEvent is the full record as a JSON string.</summary>
public sealed class Event
{
    [JsonPropertyName("EventId")]
    public string? EventId { get; set; }

    [JsonPropertyName("EventName")]
    public string? EventName { get; set; }

    [JsonPropertyName("ReadOnly")]
    public string? ReadOnly { get; set; }

    [JsonPropertyName("AccessKeyId")]
    public string? AccessKeyId { get; set; }

    [JsonPropertyName("EventTime")]
    [JsonConverter(typeof(EpochSecondsJsonConverter))]
    public DateTimeOffset? EventTime { get; set; }

    [JsonPropertyName("EventSource")]
    public string? EventSource { get; set; }

    [JsonPropertyName("Username")]
    public string? Username { get; set; }

    [JsonPropertyName("Resources")]
    public List<Resource>? Resources { get; set; }

    [JsonPropertyName("CloudTrailEvent")]
    public string? CloudTrailEvent { get; set; }
}

/// <summary>Resource: ResourceType (<c>AWS::KMS::Key</c>) and ResourceName (the ARN).</summary>
public sealed class Resource
{
    [JsonPropertyName("ResourceType")]
    public string? ResourceType { get; set; }

    [JsonPropertyName("ResourceName")]
    public string? ResourceName { get; set; }
}

/// <summary>Serialises the CloudTrail shapes with their model member names; null members are omitted.</summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(LookupEventsRequest))]
[JsonSerializable(typeof(LookupEventsResponse))]
public sealed partial class CloudTrailJsonContext : JsonSerializerContext;
