using System.Net.Sockets;
using Npgsql;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// Reads that survive a PostgreSQL restart or failover. Npgsql hands out pooled connections without checking them (a
/// round trip each), so once the server has restarted every idle connection of the pool fails at its first use. A read
/// that fails because its connection was lost clears the pool and runs once more on a new connection. Writes are not
/// repeated here (a commit whose answer was lost must not be sent twice); the read every request of a node sharing the
/// store makes first (<see cref="PostgreSqlKmsStore.ReadChangesAsync"/>) has cleared the pool for them by then.
/// </summary>
internal static class PostgreSqlReads
{
    public static async Task<T> RunAsync<T>(NpgsqlDataSource source, Func<NpgsqlConnection, Task<T>> read, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await read(connection).ConfigureAwait(false);
        }
        catch (Exception e) when (LostConnection(e) && !cancellationToken.IsCancellationRequested)
        {
            source.Clear();
        }

        await using var fresh = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await read(fresh).ConfigureAwait(false);
    }

    /// <summary>Whether <paramref name="e"/> says the connection is gone (rather than that the statement failed).</summary>
    public static bool LostConnection(Exception e) => e switch
    {
        PostgresException p => p.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow,
        NpgsqlException n => n.InnerException is IOException or SocketException or EndOfStreamException || n.IsTransient,
        _ => false,
    };
}
