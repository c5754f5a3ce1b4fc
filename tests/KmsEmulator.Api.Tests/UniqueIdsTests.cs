using System.Collections.Concurrent;
using System.Globalization;
using KmsEmulator.Api.Protocol;

namespace KmsEmulator.Api.Tests;

/// <summary>Request and event ids from the buffered generator: the right version and variant, the time in version 7, and no repeats.</summary>
public sealed class UniqueIdsTests
{
    [Fact]
    public void Version_4_ids_are_random_uuids_of_the_rfc_variant()
    {
        for (var i = 0; i < 1_000; i++)
        {
            var id = UniqueIds.NewVersion4();
            Assert.Equal(4, id.Version);
            Assert.InRange(id.Variant, 0x8, 0xB);
            Assert.Equal(Guid.Parse(id.ToString()), id);
        }
    }

    [Fact]
    public void Version_7_ids_carry_their_millisecond_and_sort_like_the_runtimes_own()
    {
        var start = new DateTimeOffset(2026, 12, 3, 13, 0, 0, 123, TimeSpan.Zero);
        string? previous = null;
        for (var i = 0; i < 1_000; i++)
        {
            var time = start.AddMilliseconds(i * 7);
            var id = UniqueIds.NewVersion7(time);
            var reference = Guid.CreateVersion7(time);
            Assert.Equal(7, id.Version);
            Assert.InRange(id.Variant, 0x8, 0xB);

            // The first 48 bits are the Unix milliseconds, written as the runtime writes them.
            var text = id.ToString("N");
            Assert.Equal(reference.ToString("N")[..12], text[..12]);
            Assert.Equal(time.ToUnixTimeMilliseconds(), long.Parse(text[..12], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            if (previous is not null)
            {
                Assert.True(string.CompareOrdinal(previous, text) < 0, $"{previous} sorts after {text}");
            }

            previous = text;
        }
    }

    [Fact]
    public async Task Ids_from_many_threads_never_repeat()
    {
        var seen = new ConcurrentDictionary<Guid, bool>();
        var time = DateTimeOffset.UnixEpoch.AddYears(56);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            // More than one buffer's worth per thread, so refills are crossed too.
            for (var i = 0; i < 20_000; i++)
            {
                Assert.True(seen.TryAdd(UniqueIds.NewVersion4(), true));
                Assert.True(seen.TryAdd(UniqueIds.NewVersion7(time), true));
            }
        })));
        Assert.Equal(8 * 20_000 * 2, seen.Count);
    }
}
