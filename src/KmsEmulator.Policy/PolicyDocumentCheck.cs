namespace KmsEmulator.Policy;

/// <summary>
/// The checks a key policy must pass before it is stored: it must parse as an IAM policy (see
/// <see cref="PolicyDocument.TryParse"/>). Size is checked by the caller against <see cref="MaxBytes"/>.
/// </summary>
public static class PolicyDocumentCheck
{
    /// <summary>Maximum key policy size in bytes, as KMS documents it.</summary>
    public const int MaxBytes = 32 * 1024;

    /// <summary>Returns null when the document is acceptable, otherwise the reason it is malformed.</summary>
    public static string? FindProblem(string policy) =>
        PolicyDocument.TryParse(policy, out _, out var problem) ? null : problem;
}
