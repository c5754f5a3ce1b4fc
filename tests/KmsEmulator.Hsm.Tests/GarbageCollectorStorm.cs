namespace KmsEmulator.Hsm.Tests;

/// <summary>Forces full, compacting collections and runs finalizers in a loop until disposed.</summary>
internal sealed class GarbageCollectorStorm : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private int _collections;

    public GarbageCollectorStorm()
    {
        _thread = new Thread(() =>
        {
            while (!_stop.IsCancellationRequested)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref _collections);
            }
        }) { IsBackground = true, Name = "gc-storm" };
        _thread.Start();
    }

    public int Collections => Volatile.Read(ref _collections);

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }
}
