namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Keeps searches of the token apart from the creation of token objects: any number of either may run at once, but
/// never one of each.
/// </summary>
/// <remarks>
/// SoftHSM2 2.6.1 (its file object store, <c>OSToken</c>) writes a new object's file before it registers the file as
/// its own, and a search re-reads the token directory whenever the token changed since the last one. A search that
/// falls between the two adopts the half-written file as a second object: it shows up as a duplicate (two objects
/// with one label) or, worse, the store drops the creator's object from its list, so that the creating call fails
/// with CKR_GENERAL_ERROR after its first attribute ("Could not initialize the attribute" in SoftHSM2's log). Both
/// were seen under parallel imports and key generation. Searches are rare once the start-up index is built (a key's
/// handle is remembered), so the cost is that a search waits for the creations running when it comes, and a creation
/// waits for the searches. When one kind is running and the other is waiting, newcomers of the running kind wait too,
/// so neither starves. Within one process only: several processes sharing a token are not protected by this.
/// </remarks>
internal sealed class TokenObjectGate
{
    private readonly object _sync = new();
    private Kind _running = Kind.None;
    private int _active;
    private int _waitingCreators;
    private int _waitingSearchers;

    // When the last call of one kind leaves while the other kind waits, the turn passes to the other kind and admits
    // as many of it as were waiting; until they are in, the first kind waits.
    private Kind _turn = Kind.None;
    private int _admit;

    private enum Kind
    {
        None,
        Create,
        Search,
    }

    /// <summary>How many calls of each kind wait to enter (for tests).</summary>
    internal (int Creators, int Searchers) Waiting
    {
        get
        {
            lock (_sync)
            {
                return (_waitingCreators, _waitingSearchers);
            }
        }
    }

    /// <summary>Runs a call that creates token objects (generation, unwrap, import, copy).</summary>
    public T Creating<T>(Func<T> call) => Run(Kind.Create, call);

    /// <summary>Runs a search of the token's objects.</summary>
    public T Searching<T>(Func<T> call) => Run(Kind.Search, call);

    private T Run<T>(Kind kind, Func<T> call)
    {
        Enter(kind);
        try
        {
            return call();
        }
        finally
        {
            Exit();
        }
    }

    private void Enter(Kind kind)
    {
        lock (_sync)
        {
            ref var waiting = ref WaitingOf(kind);
            waiting++;
            while (!MayEnter(kind))
            {
                Monitor.Wait(_sync);
            }

            waiting--;
            if (_turn == kind && --_admit == 0)
            {
                _turn = Kind.None;
            }

            _running = kind;
            _active++;
        }
    }

    // With no turn handed out: anyone into an idle gate, and into a running one only of its kind and only while the
    // other kind is not waiting.
    private bool MayEnter(Kind kind) => _turn != Kind.None
        ? _turn == kind && _admit > 0
        : _active == 0 || (_running == kind && WaitingOf(Other(kind)) == 0);

    private void Exit()
    {
        lock (_sync)
        {
            if (--_active > 0)
            {
                return;
            }

            var other = Other(_running);
            _running = Kind.None;
            if (WaitingOf(other) > 0)
            {
                _turn = other;
                _admit = WaitingOf(other);
            }

            Monitor.PulseAll(_sync);
        }
    }

    private static Kind Other(Kind kind) => kind == Kind.Create ? Kind.Search : Kind.Create;

    private ref int WaitingOf(Kind kind) => ref kind == Kind.Create ? ref _waitingCreators : ref _waitingSearchers;
}
