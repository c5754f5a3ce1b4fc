namespace KmsEmulator.Api.Keys;

/// <summary>
/// Health of the store behind <see cref="IKmsStore"/>: one cheap round trip that proves the store can still be opened
/// and read and is still the store this emulator started with.
/// </summary>
public interface IStoreProbe
{
    /// <summary>Returns null when the store answers as expected, else what is wrong. Throws only on cancellation.</summary>
    Task<string?> ProbeAsync(CancellationToken cancellationToken = default);
}
