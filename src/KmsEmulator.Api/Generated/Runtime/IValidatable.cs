namespace KmsEmulator.Api.Generated.Runtime;

/// <summary>A wire shape that checks the structural constraints of the service model (generated).</summary>
public interface IValidatable
{
    /// <summary>Adds one message per violated constraint. <paramref name="prefix"/> is the path of this shape ("" at the top).</summary>
    void Validate(ValidationErrors errors, string prefix);
}

/// <summary>A wire shape with sensitive blob members (plaintext, data keys) that can be zeroed after use (generated).</summary>
public interface ISensitiveShape
{
    void ClearSensitive();
}
