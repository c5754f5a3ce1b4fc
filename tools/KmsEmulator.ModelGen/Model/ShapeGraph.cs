namespace KmsEmulator.ModelGen.Model;

/// <summary>
/// What the emitters need to know about the model as a whole: which shapes the operations reach,
/// the class that carries each operation's input and output, and which shapes have constraints or sensitive data.
/// </summary>
internal sealed class ShapeGraph
{
    public const string EmptyRequest = "EmptyRequest";
    public const string EmptyResponse = "EmptyResponse";
    public const string GrantTokensMember = "GrantTokens";
    public const string InvalidGrantTokenError = "InvalidGrantTokenException";

    private readonly Dictionary<string, bool> _hasConstraints = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _hasSensitiveData = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inProgress = new(StringComparer.Ordinal);
    private readonly HashSet<string> _validating;

    public ShapeGraph(ServiceModel model)
    {
        Model = model;
        var fromInputs = Reach(model.Operations.Select(o => o.InputShape));
        var fromOutputs = Reach(model.Operations.Select(o => o.OutputShape));
        var reached = fromInputs.Union(fromOutputs).Select(name => model[name]).ToList();

        _validating = fromInputs.Where(name => model[name].Kind == ShapeKind.Structure).ToHashSet(StringComparer.Ordinal);
        var classes = reached.Where(s => s.Kind == ShapeKind.Structure).ToList();
        if (model.Operations.Any(o => o.InputShape is null))
        {
            classes.Add(new Shape { Name = EmptyRequest, Kind = ShapeKind.Structure });
            _validating.Add(EmptyRequest);
        }

        if (model.Operations.Any(o => o.OutputShape is null))
        {
            classes.Add(new Shape { Name = EmptyResponse, Kind = ShapeKind.Structure });
        }

        Classes = [.. classes.OrderBy(s => s.Name, StringComparer.Ordinal)];
        Enums = Names(reached.Where(s => s.Kind == ShapeKind.String && s.IsEnum));
        Errors = Names(model.Shapes.Values.Where(s => s.IsError));

        var leakedErrors = Classes.Select(s => s.Name).Intersect(Errors).ToList();
        if (leakedErrors.Count > 0)
        {
            throw new NotSupportedException($"Error shapes used as data: {string.Join(", ", leakedErrors)}.");
        }
    }

    public ServiceModel Model { get; }

    /// <summary>
    /// The generated classes in ordinal order: structures reachable from operation inputs or outputs
    /// (never error shapes), plus <see cref="EmptyRequest"/> / <see cref="EmptyResponse"/> when an operation lacks one.
    /// </summary>
    public IReadOnlyList<Shape> Classes { get; }

    /// <summary>Enum string shapes reachable from operation inputs or outputs, ordinal order.</summary>
    public IReadOnlyList<string> Enums { get; }

    /// <summary>Error shapes, ordinal order.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>Classes reachable from an operation input validate themselves.</summary>
    public bool IsValidated(Shape structure) => _validating.Contains(structure.Name);

    /// <summary>
    /// Whether the structure is the input of an operation that checks its GrantTokens: it has a GrantTokens member and
    /// the operation can answer InvalidGrantTokenException (DescribeKey takes GrantTokens but never checks them).
    /// </summary>
    public bool ChecksGrantTokens(Shape structure) =>
        structure.Members.Any(m => m.Name == GrantTokensMember) &&
        Model.Operations.Any(o => o.InputShape == structure.Name && o.Errors.Contains(InvalidGrantTokenError));

    /// <summary>A class that holds sensitive blobs or strings, directly or nested.</summary>
    public bool HasSensitiveData(Shape structure) => structure.Members.Any(m => IsSensitive(m.Target));

    public string RequestClass(Operation operation) => operation.InputShape ?? EmptyRequest;

    public string ResponseClass(Operation operation) => operation.OutputShape ?? EmptyResponse;

    public static string WireClass(string enumName) => enumName + "Wire";

    /// <summary>True when validating a value of this shape can report anything.</summary>
    public bool HasConstraints(string shapeName) =>
        Memoized(_hasConstraints, shapeName, shape => shape.Kind switch
        {
            ShapeKind.Structure => shape.Members.Any(m => m.Required || HasConstraints(m.Target.ShapeName)),
            ShapeKind.String => shape.HasLengthOrRange || shape.Pattern is not null || shape.IsEnum,
            ShapeKind.List => shape.HasLengthOrRange || CanBeNull(shape.ListMember!.ShapeName) || HasConstraints(shape.ListMember!.ShapeName),
            ShapeKind.Map => shape.HasLengthOrRange || CanBeNull(shape.MapValue!.ShapeName)
                || HasConstraints(shape.MapKey!.ShapeName) || HasConstraints(shape.MapValue!.ShapeName),
            _ => shape.HasLengthOrRange,
        });

    /// <summary>
    /// True when a list element or map value of this shape is a C# reference type, so JSON <c>null</c> reaches it
    /// and validation must reject it ("Member must not be null"); value-type elements fail deserialization instead.
    /// </summary>
    public bool CanBeNull(string shapeName) =>
        Model[shapeName].Kind is ShapeKind.Structure or ShapeKind.String or ShapeKind.Blob or ShapeKind.List or ShapeKind.Map;

    /// <summary>True when a value of this shape holds sensitive blobs or strings, directly or nested.</summary>
    public bool HasSensitiveData(string shapeName) =>
        Memoized(_hasSensitiveData, shapeName, shape => shape.Kind switch
        {
            ShapeKind.Structure => shape.Members.Any(m => IsSensitive(m.Target)),
            ShapeKind.List => IsSensitive(shape.ListMember!),
            ShapeKind.Map => IsSensitive(shape.MapValue!),
            ShapeKind.String or ShapeKind.Blob => shape.Sensitive,
            _ => false,
        });

    /// <summary>The reference is marked sensitive, or its shape is (or contains) sensitive data.</summary>
    public bool IsSensitive(ShapeRef target)
    {
        var kind = Model[target.ShapeName].Kind;
        return (target.Sensitive && kind is ShapeKind.String or ShapeKind.Blob) || HasSensitiveData(target.ShapeName);
    }

    private HashSet<string> Reach(IEnumerable<string?> roots)
    {
        var reached = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(roots.OfType<string>());
        while (pending.TryPop(out var name))
        {
            if (!reached.Add(name))
            {
                continue;
            }

            var shape = Model[name];
            foreach (var target in shape.Members.Select(m => m.Target).Append(shape.ListMember).Append(shape.MapKey).Append(shape.MapValue))
            {
                if (target is not null)
                {
                    pending.Push(target.ShapeName);
                }
            }
        }

        return reached;
    }

    private bool Memoized(Dictionary<string, bool> cache, string shapeName, Func<Shape, bool> compute)
    {
        if (cache.TryGetValue(shapeName, out var known))
        {
            return known;
        }

        if (!_inProgress.Add(shapeName))
        {
            throw new NotSupportedException($"Shape '{shapeName}' is recursive; the generator does not support recursive shapes.");
        }

        var result = compute(Model[shapeName]);
        _inProgress.Remove(shapeName);
        cache[shapeName] = result;
        return result;
    }

    private static List<string> Names(IEnumerable<Shape> shapes) =>
        [.. shapes.Select(s => s.Name).Order(StringComparer.Ordinal)];
}
