using System.Text;

namespace KmsEmulator.Policy.Internal;

/// <summary>
/// A pre-compiled pattern for policy strings: literal text, <c>*</c> and <c>?</c> wildcards (when enabled) and policy
/// variables <c>${key}</c> / <c>${key, 'default'}</c> with the <c>${*}</c>, <c>${?}</c>, <c>${$}</c> escapes (when
/// enabled). Matching never allocates; a variable the request cannot resolve makes the whole pattern not match.
/// </summary>
internal sealed class GlobPattern
{
    private enum Shape : byte { Any, Exact, Prefix, General }

    private enum TokenKind : byte { Literal, Star, Question, Variable }

    private readonly record struct Token(TokenKind Kind, string Text, string? Default);

    private readonly Token[] _tokens;
    private readonly Shape _shape;
    private readonly string _simple;
    private readonly StringComparison _comparison;

    private GlobPattern(string source, Token[] tokens, bool ignoreCase)
    {
        Source = source;
        _tokens = tokens;
        _comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        _simple = string.Empty;
        if (tokens.Length == 0)
        {
            _shape = Shape.Exact;
        }
        else if (tokens is [{ Kind: TokenKind.Star }])
        {
            _shape = Shape.Any;
        }
        else if (tokens is [{ Kind: TokenKind.Literal } only])
        {
            _shape = Shape.Exact;
            _simple = only.Text;
        }
        else if (tokens is [{ Kind: TokenKind.Literal } head, { Kind: TokenKind.Star }])
        {
            _shape = Shape.Prefix;
            _simple = head.Text;
        }
        else
        {
            _shape = Shape.General;
        }
    }

    /// <summary>The text the pattern was compiled from.</summary>
    public string Source { get; }

    /// <summary>True when the pattern is a lone <c>*</c>.</summary>
    public bool MatchesEverything => _shape == Shape.Any;

    public static GlobPattern Compile(string source, bool wildcards, bool variables, bool ignoreCase)
    {
        var tokens = new List<Token>();
        var literal = new StringBuilder();

        void Flush()
        {
            if (literal.Length > 0)
            {
                tokens.Add(new Token(TokenKind.Literal, literal.ToString(), null));
                literal.Clear();
            }
        }

        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            if (variables && c == '$' && i + 1 < source.Length && source[i + 1] == '{')
            {
                var close = source.IndexOf('}', i + 2);
                if (close > 0)
                {
                    var inner = source.AsSpan(i + 2, close - i - 2);
                    if (inner is "*" or "?" or "$")
                    {
                        literal.Append(inner[0]);
                        i = close;
                        continue;
                    }

                    if (TryParseVariable(inner, out var key, out var fallback))
                    {
                        Flush();
                        tokens.Add(new Token(TokenKind.Variable, key, fallback));
                        i = close;
                        continue;
                    }
                }
            }

            if (wildcards && c == '*')
            {
                Flush();
                if (tokens.Count == 0 || tokens[^1].Kind != TokenKind.Star)
                {
                    tokens.Add(new Token(TokenKind.Star, "*", null));
                }

                continue;
            }

            if (wildcards && c == '?')
            {
                Flush();
                tokens.Add(new Token(TokenKind.Question, "?", null));
                continue;
            }

            literal.Append(c);
        }

        Flush();
        return new GlobPattern(source, [.. tokens], ignoreCase);
    }

    /// <summary><c>key</c> or <c>key, 'default'</c> (spaces around the comma allowed).</summary>
    private static bool TryParseVariable(ReadOnlySpan<char> inner, out string key, out string? fallback)
    {
        fallback = null;
        var comma = inner.IndexOf(',');
        var name = (comma < 0 ? inner : inner[..comma]).Trim();
        key = name.ToString();
        if (name.IsEmpty)
        {
            return false;
        }

        if (comma >= 0)
        {
            var rest = inner[(comma + 1)..].Trim();
            if (rest.Length < 2 || rest[0] != '\'' || rest[^1] != '\'')
            {
                return false;
            }

            fallback = rest[1..^1].ToString();
        }

        return true;
    }

    public bool IsMatch(ReadOnlySpan<char> input, PolicyRequest? request)
    {
        switch (_shape)
        {
            case Shape.Any:
                return true;
            case Shape.Exact:
                return input.Equals(_simple, _comparison);
            case Shape.Prefix:
                return input.StartsWith(_simple, _comparison);
        }

        var tokens = _tokens;
        var ti = 0;
        var pos = 0;
        var starToken = -1;
        var starPos = -1;
        while (true)
        {
            if (ti < tokens.Length)
            {
                var token = tokens[ti];
                switch (token.Kind)
                {
                    case TokenKind.Star:
                        starToken = ti;
                        starPos = pos;
                        ti++;
                        continue;
                    case TokenKind.Question:
                        if (pos < input.Length)
                        {
                            pos++;
                            ti++;
                            continue;
                        }

                        break;
                    default:
                        var text = token.Text;
                        if (token.Kind == TokenKind.Variable && !TryResolve(token, request, out text))
                        {
                            return false;
                        }

                        if (input[pos..].StartsWith(text, _comparison))
                        {
                            pos += text.Length;
                            ti++;
                            continue;
                        }

                        break;
                }
            }
            else if (pos == input.Length)
            {
                return true;
            }

            // Mismatch: let the most recent star absorb one more character and retry what follows it.
            if (starToken < 0 || starPos >= input.Length)
            {
                return false;
            }

            starPos++;
            pos = starPos;
            ti = starToken + 1;
        }
    }

    private static bool TryResolve(Token token, PolicyRequest? request, out string value)
    {
        if (request is not null && request.TryResolveVariable(token.Text, out value))
        {
            return true;
        }

        value = token.Default ?? string.Empty;
        return token.Default is not null;
    }

    public override string ToString() => Source;
}
