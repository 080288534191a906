using System.Globalization;
using System.Text;
using System.Text.Json;

namespace GrowLength.Training.Checkpoints;

/// <summary>What a committed checkpoint holds: its step, caller properties, and every part's length and SHA-256.</summary>
/// <remarks>
/// Written last, as <c>manifest.json</c>, so its presence is what makes a checkpoint complete. Its JSON can also be
/// kept elsewhere (for example by a coordinator) and a folder checked against it with <see cref="CheckpointStore.Verify"/>.
/// Record equality compares <see cref="Properties"/> and <see cref="Parts"/> by reference; compare parts element-wise
/// (<see cref="CheckpointPart"/> has value equality) or compare <see cref="ToJson"/> output.
/// </remarks>
public sealed record CheckpointManifest(
    long Step,
    DateTimeOffset CreatedUtc,
    IReadOnlyDictionary<string, string> Properties,
    IReadOnlyList<CheckpointPart> Parts)
{
    /// <summary>The format tag written into, and required of, every manifest.</summary>
    public const string FormatName = "growlength-checkpoint/1";

    public string Format => FormatName;

    /// <summary>The part with this name, or null.</summary>
    public CheckpointPart? FindPart(string name) => Parts.FirstOrDefault(p => p.Name == name);

    /// <summary>
    /// Hashes every file in <paramref name="folder"/> (except a manifest) into a manifest for
    /// <paramref name="step"/>, parts in ordinal name order.
    /// </summary>
    public static CheckpointManifest Compute(string folder, long step, IReadOnlyDictionary<string, string>? properties = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var parts = new List<CheckpointPart>();
        foreach (var path in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            if (name is CheckpointFolders.ManifestName or CheckpointFolders.ManifestTempName)
                continue;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            parts.Add(DurableFiles.Hash(stream, name));
        }
        return new CheckpointManifest(step, DateTimeOffset.UtcNow, Copy(properties), parts);
    }

    /// <summary>The manifest as indented JSON, the same text <c>manifest.json</c> holds.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteNumber("step", Step);
            json.WriteString("createdUtc", CreatedUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            json.WriteStartObject("properties");
            foreach (var (key, value) in Properties)
                json.WriteString(key, value);
            json.WriteEndObject();
            json.WriteStartArray("parts");
            foreach (var part in Parts)
            {
                json.WriteStartObject();
                json.WriteString("name", part.Name);
                json.WriteNumber("bytes", part.Bytes);
                json.WriteString("sha256", part.Sha256);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>
    /// Parses manifest JSON; anything invalid or missing throws <see cref="RunInputException"/> with
    /// <paramref name="subject"/> (the manifest file) as the subject.
    /// </summary>
    public static CheckpointManifest Parse(string json, string subject)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw Bad(subject, $"not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad(subject, $"must be a JSON object, not {root.ValueKind}");

            var format = Required(root, "format", JsonValueKind.String, subject).GetString();
            if (format != FormatName)
                throw Bad(subject, $"format is '{format}', but this program reads '{FormatName}'");

            var stepElement = Required(root, "step", JsonValueKind.Number, subject);
            if (!stepElement.TryGetInt64(out long step) || step < 0)
                throw Bad(subject, $"step {stepElement.GetRawText()} is not a non-negative integer");

            var createdText = Required(root, "createdUtc", JsonValueKind.String, subject).GetString()!;
            if (!DateTimeOffset.TryParse(createdText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var created))
                throw Bad(subject, $"createdUtc '{createdText}' is not a date and time");

            var properties = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in Required(root, "properties", JsonValueKind.Object, subject).EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw Bad(subject, $"property '{p.Name}' must be a string, not {p.Value.ValueKind}");
                properties[p.Name] = p.Value.GetString()!;
            }

            var parts = new List<CheckpointPart>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            int index = 0;
            foreach (var p in Required(root, "parts", JsonValueKind.Array, subject).EnumerateArray())
            {
                string where = $"parts[{index++}]";
                if (p.ValueKind != JsonValueKind.Object)
                    throw Bad(subject, $"{where} must be an object");
                var name = Required(p, "name", JsonValueKind.String, subject, where).GetString()!;
                // A manifest from elsewhere must not steer reads outside the checkpoint folder.
                if (CheckpointFolders.PartNameProblem(name) is { } nameProblem)
                    throw Bad(subject, $"{where}: {nameProblem}");
                if (!names.Add(name))
                    throw Bad(subject, $"part '{name}' is listed twice");
                var bytesElement = Required(p, "bytes", JsonValueKind.Number, subject, where);
                if (!bytesElement.TryGetInt64(out long bytes) || bytes < 0)
                    throw Bad(subject, $"{where}.bytes {bytesElement.GetRawText()} is not a non-negative integer");
                var sha = Required(p, "sha256", JsonValueKind.String, subject, where).GetString()!;
                if (sha.Length != 64 || !sha.All(char.IsAsciiHexDigit))
                    throw Bad(subject, $"{where}.sha256 '{sha}' is not 64 hex digits");
                parts.Add(new CheckpointPart(name, bytes, sha.ToLowerInvariant()));
            }

            return new CheckpointManifest(step, created.ToUniversalTime(), properties, parts);
        }
    }

    /// <summary>Reads and parses a <c>manifest.json</c> file; problems name that file.</summary>
    public static CheckpointManifest Load(string manifestPath)
    {
        string json;
        try
        {
            json = File.ReadAllText(manifestPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunInputException(manifestPath, $"cannot read the checkpoint manifest: {e.Message}", e);
        }
        return Parse(json, manifestPath);
    }

    internal static IReadOnlyDictionary<string, string> Copy(IReadOnlyDictionary<string, string>? properties) =>
        properties is null
            ? new Dictionary<string, string>(StringComparer.Ordinal)
            : new Dictionary<string, string>(properties, StringComparer.Ordinal);

    private static JsonElement Required(JsonElement parent, string name, JsonValueKind kind, string subject, string? where = null)
    {
        string label = where is null ? name : $"{where}.{name}";
        if (!parent.TryGetProperty(name, out var value))
            throw Bad(subject, $"the field '{label}' is missing");
        if (value.ValueKind != kind)
            throw Bad(subject, $"the field '{label}' must be {Describe(kind)}, not {value.ValueKind}");
        return value;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => kind.ToString(),
    };

    private static RunInputException Bad(string subject, string problem, Exception? inner = null) =>
        new(subject, $"invalid checkpoint manifest: {problem}", inner);
}
