using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using GrowLength.Training.Model;

namespace GrowLength.Training.Run;

/// <summary>Reads and writes run specs as JSON and applies <c>--section.key=value</c> overrides.</summary>
public static class RunSpecJson
{
    /// <summary>The one JSON shape of a spec: camelCase, unknown keys rejected, comments allowed.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Serialises a spec.</summary>
    public static string ToJson(RunSpec spec) => JsonSerializer.Serialize(spec, Options);

    /// <summary>Parses a spec; <paramref name="subject"/> names the file in errors.</summary>
    public static RunSpec Parse(string json, string subject)
    {
        try
        {
            return JsonSerializer.Deserialize<RunSpec>(json, Options)
                ?? throw new RunInputException(subject, "the run spec is empty (null).");
        }
        catch (JsonException e)
        {
            var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at {e.Path.TrimStart('$', '.')}";
            throw new RunInputException(subject, $"not a valid run spec{where}: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>Loads a spec file; a missing or malformed file names the file.</summary>
    public static RunSpec Load(string path)
    {
        if (!File.Exists(path)) throw new RunInputException(path, "run spec file not found.");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Applies overrides such as <c>schedule.minLength=256</c> (a leading <c>--</c> is allowed).</summary>
    /// <remarks><c>model.preset=NAME</c> replaces the whole model section first, so other <c>model.*</c> overrides refine it.
    /// Unknown keys and values of the wrong type are errors naming the key.</remarks>
    public static RunSpec ApplyOverrides(RunSpec spec, IEnumerable<string> overrides)
    {
        var pairs = overrides.Select(SplitOverride).ToList();
        var copy = Parse(ToJson(spec), "run spec");
        foreach (var (key, value) in pairs.Where(p => p.Key.Equals("model.preset", StringComparison.OrdinalIgnoreCase)))
            copy = copy with { Model = ModelPresets.ByName(value) with { VocabSize = copy.Model.VocabSize } };
        foreach (var (key, value) in pairs.Where(p => !p.Key.Equals("model.preset", StringComparison.OrdinalIgnoreCase)))
        {
            var segments = key.Split('.');
            object target = copy;
            for (int i = 0; i < segments.Length - 1; i++)
            {
                var section = FindProperty(target.GetType(), segments[i], key);
                target = section.GetValue(target) ?? throw new RunInputException(key, $"'{segments[i]}' is not a section.");
                if (!IsSection(target.GetType())) throw new RunInputException(key, $"'{segments[i]}' is a setting, not a section.");
            }
            var property = FindProperty(target.GetType(), segments[^1], key);
            if (IsSection(property.PropertyType)) throw new RunInputException(key, $"'{segments[^1]}' is a section; set one of its keys, e.g. {key}.<key>=value.");
            property.SetValue(target, Convert(value, property.PropertyType, key));
        }
        return copy;
    }

    private static (string Key, string Value) SplitOverride(string raw)
    {
        var text = raw.StartsWith("--", StringComparison.Ordinal) ? raw[2..] : raw;
        var eq = text.IndexOf('=');
        if (eq <= 0) throw new RunInputException(raw, "an override has the form --section.key=value.");
        return (text[..eq], text[(eq + 1)..]);
    }

    private static bool IsSection(Type type) => type.Namespace?.StartsWith("GrowLength.Training", StringComparison.Ordinal) == true && type.IsClass;

    private static PropertyInfo FindProperty(Type type, string name, string key)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is { IsPublic: true }).ToList();
        return properties.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            ?? throw new RunInputException(key, $"unknown setting '{name}'; known here: {string.Join(", ", properties.Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)))}.");
    }

    private static object? Convert(string value, Type type, string key)
    {
        var inner = Nullable.GetUnderlyingType(type) ?? type;
        if (value.Length == 0 || value.Equals("null", StringComparison.OrdinalIgnoreCase))
        {
            if (!inner.IsValueType || Nullable.GetUnderlyingType(type) is not null) return null;
            throw new RunInputException(key, "needs a value.");
        }
        try
        {
            if (inner == typeof(string)) return value;
            if (inner == typeof(int)) return int.Parse(value.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (inner == typeof(long)) return ParseLong(value);
            if (inner == typeof(double)) return double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (inner == typeof(bool)) return bool.Parse(value);
            if (inner.IsArray)
            {
                var parts = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                var element = inner.GetElementType()!;
                var array = Array.CreateInstance(element, parts.Length);
                for (int i = 0; i < parts.Length; i++) array.SetValue(Convert(parts[i], element, key), i);
                return array;
            }
        }
        catch (FormatException) { }
        catch (OverflowException) { }
        throw new RunInputException(key, $"'{value}' is not a valid {Describe(inner)}.");
    }

    // Token budgets read better with suffixes: 20M, 1.5G, 500k.
    private static long ParseLong(string value)
    {
        var text = value.Replace("_", "");
        double scale = char.ToLowerInvariant(text[^1]) switch { 'k' => 1e3, 'm' => 1e6, 'g' or 'b' => 1e9, _ => 1 };
        if (scale != 1) return checked((long)(double.Parse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture) * scale));
        return long.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "whole number",
        _ when type == typeof(double) => "number",
        _ when type == typeof(bool) => "true/false",
        _ when type.IsArray => $"comma-separated list of {Describe(type.GetElementType()!)}s",
        _ => type.Name,
    };

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
