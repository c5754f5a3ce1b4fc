using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Tests;

public sealed class IdentifierAndStateTests
{
    private const string KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab";
    private static readonly KeyScope Caller = new("111122223333", "us-east-1");

    [Theory]
    [InlineData(KeyId, KeyIdentifierForms.KeyId, "111122223333", "us-east-1")]
    [InlineData("arn:aws:kms:eu-west-1:444455556666:key/" + KeyId, KeyIdentifierForms.KeyArn, "444455556666", "eu-west-1")]
    [InlineData("alias/app", KeyIdentifierForms.AliasName, "111122223333", "us-east-1")]
    [InlineData("arn:aws:kms:us-east-1:444455556666:alias/app", KeyIdentifierForms.AliasArn, "444455556666", "us-east-1")]
    public void Every_identifier_form_is_recognised(string value, KeyIdentifierForms form, string account, string region)
    {
        var parsed = KeyIdentifierParser.Parse(value, Caller, KeyIdentifierForms.Any);

        Assert.Equal(form, parsed.Form);
        Assert.Equal(new KeyScope(account, region), parsed.Scope);
    }

    [Theory]
    [InlineData("alias/app")]
    [InlineData("arn:aws:kms:us-east-1:111122223333:alias/app")]
    [InlineData("not-a-key")]
    [InlineData("1234ABCD-12AB-34CD-56EF-1234567890AB")]
    [InlineData("arn:aws:kms:us-east-1:111122223333:key/nope")]
    public void Key_only_operations_reject_other_forms_with_Invalid_keyId(string value)
    {
        var error = Assert.Throws<KmsException>(() => KeyIdentifierParser.Parse(value, Caller, KeyIdentifierForms.KeyIdOrArn));

        Assert.Equal("NotFoundException", error.Code);
        Assert.Equal($"Invalid keyId '{value}'", error.WireMessage);
    }

    [Fact]
    public void Arns_carry_the_partition_of_their_region()
    {
        Assert.Equal("arn:aws-cn:kms:cn-north-1:111122223333:key/" + KeyId, new KeyScope("111122223333", "cn-north-1").KeyArn(KeyId));
        Assert.Equal("arn:aws-us-gov:iam::111122223333:root", new KeyScope("111122223333", "us-gov-west-1").RootArn);
    }

    [Theory]
    [InlineData(KeyStateRule.Cryptographic, KeyState.Enabled, null)]
    [InlineData(KeyStateRule.Cryptographic, KeyState.Disabled, "DisabledException:{0} is disabled.")]
    [InlineData(KeyStateRule.Cryptographic, KeyState.PendingDeletion, "KMSInvalidStateException:{0} is pending deletion.")]
    [InlineData(KeyStateRule.Cryptographic, KeyState.PendingImport, "KMSInvalidStateException:{0} is pending import.")]
    [InlineData(KeyStateRule.CreateGrant, KeyState.Disabled, "DisabledException:{0} is disabled.")]
    [InlineData(KeyStateRule.CreateGrant, KeyState.PendingImport, "KMSInvalidStateException:{0} is pending import.")]
    [InlineData(KeyStateRule.CreateGrant, KeyState.Unavailable, null)]
    [InlineData(KeyStateRule.Cryptographic, KeyState.Unavailable, "KMSInvalidStateException:{0} is unavailable.")]
    [InlineData(KeyStateRule.Management, KeyState.Disabled, null)]
    [InlineData(KeyStateRule.Management, KeyState.PendingDeletion, "KMSInvalidStateException:{0} is pending deletion.")]
    [InlineData(KeyStateRule.EnableDisable, KeyState.PendingImport, "KMSInvalidStateException:{0} is pending import.")]
    [InlineData(KeyStateRule.ScheduleDeletion, KeyState.PendingImport, null)]
    [InlineData(KeyStateRule.CancelDeletion, KeyState.Enabled, "KMSInvalidStateException:{0} is not pending deletion.")]
    [InlineData(KeyStateRule.CancelDeletion, KeyState.PendingDeletion, null)]
    [InlineData(KeyStateRule.Any, KeyState.PendingDeletion, null)]
    [InlineData(KeyStateRule.Import, KeyState.PendingImport, null)]
    [InlineData(KeyStateRule.Import, KeyState.Disabled, null)]
    [InlineData(KeyStateRule.Import, KeyState.PendingDeletion, "KMSInvalidStateException:{0} is pending deletion.")]
    [InlineData(KeyStateRule.Import, KeyState.Creating, "KMSInvalidStateException:{0} is creating.")]
    [InlineData(KeyStateRule.DeleteImportedMaterial, KeyState.PendingDeletion, null)]
    [InlineData(KeyStateRule.DeleteImportedMaterial, KeyState.PendingImport, null)]
    [InlineData(KeyStateRule.DeleteImportedMaterial, KeyState.Updating, "KMSInvalidStateException:{0} is updating.")]
    [InlineData(KeyStateRule.Replicate, KeyState.Enabled, null)]
    [InlineData(KeyStateRule.Replicate, KeyState.Disabled, "DisabledException:{0} is disabled.")]
    [InlineData(KeyStateRule.Replicate, KeyState.PendingReplicaDeletion, "KMSInvalidStateException:{0} is pending deletion.")]
    [InlineData(KeyStateRule.Replicate, KeyState.PendingImport, "KMSInvalidStateException:{0} is pending import.")]
    [InlineData(KeyStateRule.Replicate, KeyState.Creating, "KMSInvalidStateException:{0} is creating.")]
    [InlineData(KeyStateRule.Replicate, KeyState.Updating, "KMSInvalidStateException:{0} is updating.")]
    [InlineData(KeyStateRule.UpdatePrimaryRegion, KeyState.Updating, null)]
    [InlineData(KeyStateRule.UpdatePrimaryRegion, KeyState.Disabled, "DisabledException:{0} is disabled.")]
    [InlineData(KeyStateRule.UpdatePrimaryRegion, KeyState.PendingDeletion, "KMSInvalidStateException:{0} is pending deletion.")]
    [InlineData(KeyStateRule.UpdatePrimaryRegion, KeyState.Creating, "KMSInvalidStateException:{0} is creating.")]
    [InlineData(KeyStateRule.Cryptographic, KeyState.Updating, null)]
    [InlineData(KeyStateRule.Cryptographic, KeyState.Creating, "KMSInvalidStateException:{0} is creating.")]
    [InlineData(KeyStateRule.Cryptographic, KeyState.PendingReplicaDeletion, "KMSInvalidStateException:{0} is pending deletion.")]
    [InlineData(KeyStateRule.ScheduleDeletion, KeyState.Creating, null)]
    [InlineData(KeyStateRule.ScheduleDeletion, KeyState.Updating, "KMSInvalidStateException:{0} is updating.")]
    [InlineData(KeyStateRule.CancelDeletion, KeyState.PendingReplicaDeletion, null)]
    public void The_key_state_table_gives_AWS_errors(KeyStateRule rule, KeyState state, string? expected)
    {
        var key = TestKeys.Create(KeyId, state: state);

        var error = KeyStateRules.ErrorFor(rule, key);

        Assert.Equal(expected is null ? null : string.Format(System.Globalization.CultureInfo.InvariantCulture, expected, key.Arn), error is null ? null : $"{error.Code}:{error.WireMessage}");
    }
}
