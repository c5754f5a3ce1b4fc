using KmsEmulator.Api.Audit;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// <see cref="NewestUses{TEvent}"/> against the plain dictionary it stands for: runs of one key, keys coming back, times
/// out of order and ties (the one noted later wins), in random orders.
/// </summary>
public sealed class NewestUsesTests
{
    private sealed record Use(int Id, DateTimeOffset Time);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Holds_the_newest_use_of_each_key_as_a_dictionary_updated_use_by_use_would(int seed)
    {
        var random = new Random(seed);
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var keys = new[] { "arn:a", "arn:b", "arn:c" };
        var gathered = new NewestUses<Use>(u => u.Time);
        var expected = new Dictionary<string, Use>();
        var key = keys[0];
        for (var i = 0; i < 2_000; i++)
        {
            if (random.Next(4) == 0)
            {
                key = keys[random.Next(keys.Length)]; // mostly runs of one key, as under load
            }

            var use = new Use(i, t0.AddSeconds(random.Next(20))); // many ties, some older than the last
            gathered.Note(key, use);
            if (!expected.TryGetValue(key, out var newest) || use.Time >= newest.Time)
            {
                expected[key] = use;
            }

            if (i % 500 == 499)
            {
                Assert.Equal(expected.OrderBy(e => e.Key), gathered.Result.OrderBy(e => e.Key));
            }
        }

        Assert.Equal(expected.OrderBy(e => e.Key), gathered.Result.OrderBy(e => e.Key));
        gathered.Clear();
        Assert.Empty(gathered.Result);
    }
}
