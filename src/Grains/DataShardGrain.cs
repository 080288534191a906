using System.Runtime.InteropServices;
using GrowLength.Grains.Hosting;
using GrowLength.Training.Data;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Placement;

namespace GrowLength.Grains;

/// <summary>Serves one worker's rows of each step from the packed corpus (opened through this silo's corpus cache) and
/// reads the next step's rows ahead while the worker computes, so at a steady length the worker never waits.
/// Placed on the caller's silo: the worker's loop and its shard share a machine and its corpus cache.</summary>
[PreferLocalPlacement]
public sealed class DataShardGrain(IOptions<GrowLengthSiloOptions> options, ILogger<DataShardGrain> logger) : Grain, IDataShardGrain
{
    private PreparedRun? run;
    private string? openedSpec;
    private (RowRequest Request, Task<byte[]> Rows)? prefetch;

    public async Task Open(string specJson)
    {
        if (run is not null && openedSpec == specJson) return;
        run?.Dispose();
        run = null;
        var spec = await InputErrors.OffScheduler(() =>
        {
            var parsed = RunSpecJson.Parse(specJson, "run spec");
            // Checked again here: the roots of this silo, which may not be the coordinator's.
            options.Value.RunFileRoots().Check(parsed.Data.Path, "data.path");
            return parsed;
        });
        var cache = options.Value.CorpusCacheFolder;
        var limits = options.Value.CorpusLimits;
        run = await InputErrors.OffScheduler(() => PreparedRun.Open(spec, cache, logger, limits));
        openedSpec = specJson;
        prefetch = null;
    }

    public async Task<RowBatch> GetRows(RowRequest request)
    {
        var stream = (run ?? throw new InvalidOperationException($"data shard {this.GetPrimaryKeyString()} was asked for rows before Open")).Stream;
        bool hit = prefetch is { } p && p.Request == request;
        var rows = hit ? await prefetch!.Value.Rows : await Task.Run(() => Read(stream, request));
        // Guess the next step: same length, the stream right after this step. A stage transition misses once.
        var next = request with { StreamOffset = request.StreamOffset + (long)request.Rows * request.Length };
        prefetch = (next, Task.Run(() => Read(stream, next)));
        return new RowBatch(TokenStream.RowsFor(request.Rows, request.Rank, request.WorldSize), request.Length, rows, hit);
    }

    public Task<ValidationBatch> GetValidationWindows(int length, int maxWindows)
    {
        var corpus = (run ?? throw new InvalidOperationException($"data shard {this.GetPrimaryKeyString()} was asked for validation windows before Open")).Corpus;
        return InputErrors.OffScheduler(() =>
        {
            var (starts, tokens) = new ValidationWindows(corpus, length, maxWindows).ReadAll();
            return new ValidationBatch(length, starts, MemoryMarshal.AsBytes(tokens.AsSpan()).ToArray());
        });
    }

    /// <summary>Rows rank, rank + W, … of the step, each as its Length + 1 stream tokens (int32, little-endian).</summary>
    internal static byte[] Read(TokenStream stream, RowRequest r)
    {
        int mine = TokenStream.RowsFor(r.Rows, r.Rank, r.WorldSize);
        var bytes = new byte[checked(mine * (r.Length + 1) * sizeof(int))];
        var tokens = MemoryMarshal.Cast<byte, int>(bytes.AsSpan());
        var row = new long[r.Length + 1];
        for (int j = 0; j < mine; j++)
        {
            long index = r.Rank + (long)j * r.WorldSize;
            stream.Read(r.StreamOffset + index * r.Length, row);
            var destination = tokens.Slice(j * (r.Length + 1), r.Length + 1);
            for (int i = 0; i < row.Length; i++) destination[i] = checked((int)row[i]);
        }
        return bytes;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        run?.Dispose();
        run = null;
        return Task.CompletedTask;
    }
}
