namespace KmsEmulator.Policy;

/// <summary>
/// The key policy KMS gives a key created without one: the key's account may do everything, which also
/// lets that account's IAM policies grant access. Rendered in the layout AWS returns it in.
/// </summary>
public static class DefaultKeyPolicy
{
    /// <summary>The only key policy name KMS has.</summary>
    public const string PolicyName = "default";

    /// <param name="accountRootArn">The key owner's account principal, e.g. <c>arn:aws:iam::111122223333:root</c>.</param>
    public static string For(string accountRootArn) =>
        "{\n" +
        "  \"Version\" : \"2012-10-17\",\n" +
        "  \"Id\" : \"key-default-1\",\n" +
        "  \"Statement\" : [ {\n" +
        "    \"Sid\" : \"Enable IAM User Permissions\",\n" +
        "    \"Effect\" : \"Allow\",\n" +
        "    \"Principal\" : {\n" +
        $"      \"AWS\" : \"{accountRootArn}\"\n" +
        "    },\n" +
        "    \"Action\" : \"kms:*\",\n" +
        "    \"Resource\" : \"*\"\n" +
        "  } ]\n" +
        "}";
}
