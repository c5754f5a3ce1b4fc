using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// Writes log events to standard output in batches, with one write and flush per batch instead of per event.
/// At tens of thousands of requests a second, a per-line flush (what the plain console sink does) costs more CPU
/// than the request itself; batching keeps the one completion line per request affordable.
/// </summary>
internal sealed class BufferedConsoleSink(ITextFormatter formatter) : IBatchedLogEventSink, IDisposable
{
    private readonly StreamWriter _output = new(Console.OpenStandardOutput(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 64 * 1024)
    {
        AutoFlush = false,
    };

    public Task EmitBatchAsync(IReadOnlyCollection<LogEvent> batch)
    {
        foreach (var logEvent in batch)
        {
            formatter.Format(logEvent, _output);
        }

        _output.Flush();
        return Task.CompletedTask;
    }

    public void Dispose() => _output.Dispose();
}
