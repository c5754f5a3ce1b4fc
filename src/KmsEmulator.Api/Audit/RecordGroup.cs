using System.Buffers;
using System.IO.Compression;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// Consecutive records of one log file, compressed once: the same raw-deflate bytes go into the log file's gzip stream
/// and, as they are, into the LookupEvents index, so that no record is compressed twice. A group is written by a
/// <see cref="RecordPacker"/> and sealed when it is full or its batch ends; from then on it does not change.
/// </summary>
public sealed class RecordGroup
{
    /// <summary>A final, empty deflate block (fixed codes): what turns a group's flushed segment into a complete stream.</summary>
    private static ReadOnlySpan<byte> FinalEmptyBlock => [0x03, 0x00];

    private byte[]? _compressed;

    /// <summary>
    /// The group as a complete raw-deflate stream (RFC 1951): the segment the log file holds, then a final empty block.
    /// Inflated, it is the records with the separators between them, as in the log file.
    /// </summary>
    public byte[] Compressed => _compressed ?? throw new InvalidOperationException("The record group is still being written.");

    /// <summary>How many bytes the group inflates to.</summary>
    public int RawLength { get; private set; }

    internal bool Sealed => _compressed is not null;

    internal void Seal(ReadOnlySpan<byte> segment, int rawLength)
    {
        var compressed = new byte[segment.Length + FinalEmptyBlock.Length];
        segment.CopyTo(compressed);
        FinalEmptyBlock.CopyTo(compressed.AsSpan(segment.Length));
        _compressed = compressed;
        RawLength = rawLength;
    }

    /// <summary>The first <paramref name="length"/> inflated bytes of a group's <see cref="Compressed"/> bytes, read from <paramref name="offset"/>.</summary>
    public static byte[] Inflate(byte[] compressed, int offset, int length)
    {
        var raw = new byte[length];
        using var inflater = new DeflateStream(new MemoryStream(compressed, offset, compressed.Length - offset, writable: false), CompressionMode.Decompress);
        inflater.ReadExactly(raw);
        return raw;
    }
}

/// <summary>One record in a <see cref="RecordGroup"/>: where its bytes lie in the inflated group.</summary>
public readonly record struct RecordSlice(RecordGroup Group, int Offset, int Length)
{
    /// <summary>The record's bytes (inflates the group; for tests and tools, not the delivery path).</summary>
    public byte[] ToArray() => RecordGroup.Inflate(Group.Compressed, 0, Offset + Length).AsSpan(Offset, Length).ToArray();

    /// <summary>Each record in groups of its own batch (the index's tests and tools, and records read back from elsewhere).</summary>
    public static List<RecordSlice> Pack(IEnumerable<byte[]> records)
    {
        var slices = new List<RecordSlice>();
        using var packer = new RecordPacker();
        foreach (var record in records)
        {
            slices.Add(packer.Add([], record));
            if (packer.Full)
            {
                packer.Seal();
            }
        }

        packer.Seal();
        return slices;
    }
}

/// <summary>
/// Compresses records into <see cref="RecordGroup"/>s of up to <see cref="RecordsPerGroup"/>: each group with a
/// compressor of its own, so that it refers to no earlier bytes and can be inflated alone, and ended with a sync flush,
/// so that it ends on a byte boundary and the next group's blocks can follow it in one deflate stream. A group's records
/// are gathered uncompressed and compressed in one call when it is sealed (one call per group rather than two per
/// record), and its uncompressed bytes can be read once before that (<see cref="Pending"/>), for checksums.
/// </summary>
public sealed class RecordPacker : IDisposable
{
    /// <summary>
    /// Records per group: the index inflates only the groups of the records a lookup returns (a few dozen kilobytes),
    /// and a log file's compression ratio is hardly lower than with one compressor for the whole file.
    /// </summary>
    public const int RecordsPerGroup = 32;

    private readonly MemoryStream _compressed = new();
    private readonly ArrayBufferWriter<byte> _raw = new(64 * 1024);
    private RecordGroup? _group;
    private int _count;

    /// <summary>Whether the open group holds <see cref="RecordsPerGroup"/> records.</summary>
    public bool Full => _count >= RecordsPerGroup;

    /// <summary>The open group's uncompressed bytes (the records and their separators), valid until the next call.</summary>
    public ReadOnlySpan<byte> Pending => _raw.WrittenSpan;

    /// <summary>
    /// Adds <paramref name="prefix"/> (a separator, not part of the record) and <paramref name="record"/> to the open
    /// group, opening one if none is; returns where the record lies. Call <see cref="Seal"/> when <see cref="Full"/>.
    /// </summary>
    public RecordSlice Add(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> record)
    {
        if (_group is null)
        {
            _group = new RecordGroup();
            _raw.ResetWrittenCount();
            _count = 0;
        }

        _raw.Write(prefix);
        var slice = new RecordSlice(_group, _raw.WrittenCount, record.Length);
        _raw.Write(record);
        _count++;
        return slice;
    }

    /// <summary>
    /// Ends the open group: compresses it, flushed to a byte boundary, seals it, and returns its segment (the deflate
    /// blocks a log file appends, valid until the next call); empty when no group is open.
    /// </summary>
    public ReadOnlySpan<byte> Seal()
    {
        if (_group is not { } group)
        {
            return [];
        }

        _compressed.SetLength(0);
        int end;
        using (var deflate = new DeflateStream(_compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(_raw.WrittenSpan);
            deflate.Flush(); // a sync flush: everything, ending on a byte boundary with an empty stored block
            end = (int)_compressed.Length;
        } // disposing writes a final block, which is not part of the segment

        var segment = _compressed.GetBuffer().AsSpan(0, end);
        group.Seal(segment, _raw.WrittenCount);
        _group = null;
        _raw.ResetWrittenCount();
        return segment;
    }

    public void Dispose() => _compressed.Dispose();
}
