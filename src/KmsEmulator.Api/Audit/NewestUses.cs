using System.Runtime.InteropServices;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// The newest event per key ARN among events noted in order (of two at the same instant, the one noted later). Under
/// load most events name the key the one before named, so the last key is held aside and compared rather than hashed,
/// and goes into the dictionary when another key comes or when the result is read.
/// </summary>
internal sealed class NewestUses<TEvent>(Func<TEvent, DateTimeOffset> timeOf)
    where TEvent : class
{
    private readonly Dictionary<string, TEvent> _newest = new(StringComparer.Ordinal);
    private string? _key;
    private TEvent? _event;

    public void Note(string keyArn, TEvent e)
    {
        if (_key is not null && string.Equals(keyArn, _key, StringComparison.Ordinal))
        {
            if (timeOf(e) >= timeOf(_event!))
            {
                _event = e;
            }

            return;
        }

        Settle();
        _key = keyArn;
        _event = e;
    }

    /// <summary>Every key's newest event so far.</summary>
    public IReadOnlyDictionary<string, TEvent> Result
    {
        get
        {
            Settle();
            return _newest;
        }
    }

    public void Clear()
    {
        _newest.Clear();
        _key = null;
        _event = null;
    }

    private void Settle()
    {
        if (_key is null)
        {
            return;
        }

        ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_newest, _key, out _);
        if (slot is null || timeOf(_event!) >= timeOf(slot))
        {
            slot = _event;
        }

        _key = null;
        _event = null;
    }
}
