using System.Threading.Channels;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// A fixed number of logged-in sessions, each used by one caller at a time: SoftHSM2 crashes the process when two
/// threads use one session at once. A session that turns out to be closed or logged out is replaced.
/// </summary>
internal sealed class SessionPool : IDisposable
{
    private readonly Func<ISession> _openSession;

    /// <summary>Idle sessions; null stands for a place whose session was discarded and is opened again on next use.</summary>
    private readonly Channel<ISession?> _idle;

    private int _inUse;
    private int _waiting;

    /// <summary>Opens <paramref name="size"/> sessions with <paramref name="openSession"/>, which must return a logged-in session.</summary>
    public SessionPool(int size, Func<ISession> openSession)
    {
        _openSession = openSession;
        Size = size;
        _idle = Channel.CreateBounded<ISession?>(size);
        try
        {
            for (var i = 0; i < size; i++)
            {
                _idle.Writer.TryWrite(openSession());
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Places in the pool.</summary>
    public int Size { get; }

    /// <summary>Sessions checked out right now.</summary>
    public int InUse => Volatile.Read(ref _inUse);

    /// <summary>Callers waiting for a session right now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// Runs <paramref name="work"/> on a session that no one else uses meanwhile. When the session is found lost,
    /// it is replaced and <paramref name="work"/> runs once more on the new one.
    /// </summary>
    public async ValueTask<T> RunAsync<T>(Func<ISession, T> work, CancellationToken cancellationToken)
    {
        if (!_idle.Reader.TryRead(out var session))
        {
            Interlocked.Increment(ref _waiting);
            try
            {
                session = await _idle.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }

        Interlocked.Increment(ref _inUse);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                session ??= _openSession();
                try
                {
                    return work(session);
                }
                catch (Pkcs11Exception e) when (CkrMapper.IsSessionLost(e.RV))
                {
                    Close(session);
                    session = null;
                    if (attempt == 2)
                    {
                        throw;
                    }
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inUse);
            if (!_idle.Writer.TryWrite(session))
            {
                Close(session);
            }
        }
    }

    /// <summary>Closes the idle sessions now and each busy one when it comes back.</summary>
    public void Dispose()
    {
        _idle.Writer.TryComplete();
        while (_idle.Reader.TryRead(out var session))
        {
            Close(session);
        }
    }

    private static void Close(ISession? session)
    {
        try
        {
            session?.Dispose();
        }
        catch (Pkcs11Exception)
        {
            // The session is already gone; there is nothing left to release.
        }
    }
}
