using System.Text.Json;
using Orleans.Storage;

namespace GrowLength.Grains.Storage.Postgres;

/// <summary>Grain state as the same JSON the file storage writes (<see cref="FileGrainStorage.Json"/>): one format to read
/// whichever storage a cluster uses, and a database row a person can read with <c>convert_from(payload, 'UTF8')</c>.</summary>
public sealed class JsonGrainStateSerializer : IGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? input) => new(JsonSerializer.SerializeToUtf8Bytes(input, FileGrainStorage.Json));

    public T Deserialize<T>(BinaryData input) =>
        JsonSerializer.Deserialize<T>(input.ToMemory().Span, FileGrainStorage.Json)
        // Fail the activation: starting from empty state would forget a run.
        ?? throw new JsonException($"the stored {typeof(T).Name} is null");
}
