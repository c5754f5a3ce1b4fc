namespace KmsEmulator.Api.Generated.Runtime;

/// <summary>Collects constraint violations and renders them in AWS's validator wording.</summary>
public sealed class ValidationErrors
{
    private List<string>? _items;

    public int Count => _items?.Count ?? 0;

    public IReadOnlyList<string> Items => (IReadOnlyList<string>?)_items ?? [];

    public void Add(string item) => (_items ??= []).Add(item);

    /// <summary>"1 validation error detected: ..." or "N validation errors detected: a; b".</summary>
    public string ToMessage()
    {
        var items = Items;
        var header = items.Count == 1 ? "1 validation error detected: " : $"{items.Count} validation errors detected: ";
        return header + string.Join("; ", items);
    }
}
