namespace KmsEmulator.Policy;

/// <summary>The kind of caller, named as CloudTrail's <c>userIdentity.type</c> names it.</summary>
public enum PrincipalType
{
    /// <summary>An account's root user, <c>arn:aws:iam::&lt;account&gt;:root</c>. Needs no identity policy.</summary>
    Root,

    /// <summary>An IAM user, <c>arn:aws:iam::&lt;account&gt;:user/&lt;path&gt;&lt;name&gt;</c>.</summary>
    IAMUser,

    /// <summary>A role session, <c>arn:aws:sts::&lt;account&gt;:assumed-role/&lt;role&gt;/&lt;session&gt;</c>.</summary>
    AssumedRole,

    /// <summary>A role acting as itself, <c>arn:aws:iam::&lt;account&gt;:role/&lt;path&gt;&lt;name&gt;</c> (emulator configurations).</summary>
    Role,

    /// <summary>A federated user, <c>arn:aws:sts::&lt;account&gt;:federated-user/&lt;name&gt;</c>.</summary>
    FederatedUser,

    /// <summary>An AWS service principal such as <c>ec2.amazonaws.com</c> (the principal "ARN" is the service name).</summary>
    AWSService,

    /// <summary>An unauthenticated caller; only <c>"Principal": "*"</c> matches it.</summary>
    Anonymous,
}
