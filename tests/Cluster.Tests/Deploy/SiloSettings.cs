using System.Globalization;
using System.Reflection;
using GrowLength.Grains.Hosting;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>The silo settings a deploy file may name (<c>GROWLENGTH__KEY</c>, <c>--GrowLength:Key=value</c>): the public
/// settable properties of <see cref="GrowLengthSiloOptions"/>, matched case-insensitively as .NET configuration binds them.</summary>
internal static class SiloSettings
{
    private static readonly Dictionary<string, PropertyInfo> Properties = typeof(GrowLengthSiloOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.SetMethod!.IsPublic)
        .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The setting's type, or null when no setting has that name.</summary>
    public static Type? TypeOf(string name) =>
        Properties.TryGetValue(name, out var property) ? property.PropertyType : null;

    /// <summary>The property's own spelling (for messages and lookups), or the name as given when there is none.</summary>
    public static string Canonical(string name) => Properties.TryGetValue(name, out var property) ? property.Name : name;

    /// <summary>A problem with one setting as a deploy file gives it, or null: an unknown name, or a value that does not
    /// parse as the setting's type (ints and bools as the configuration binder reads them; ports 0–65535).</summary>
    public static string? Problem(string name, string? value)
    {
        var type = TypeOf(name);
        if (type is null) return $"'{name}' is not a setting of GrowLengthSiloOptions ";
        if (value is null) return null;
        if (type == typeof(int))
        {
            if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)) return $"{name}='{value}' is not an integer";
            if (name.EndsWith("Port", StringComparison.OrdinalIgnoreCase) && number is < 0 or > 65535) return $"{name}={value} is not a port number";
        }
        else if (type == typeof(bool))
        {
            if (!bool.TryParse(value, out _)) return $"{name}='{value}' is not true or false";
        }
        if (Canonical(name) == nameof(GrowLengthSiloOptions.MetricsHost) && GrowLengthSiloOptions.MetricsHostProblem(value) is { } problem)
            return $"{name}: {problem}";
        return null;
    }

    /// <summary>The default value of a setting, as text (null for none).</summary>
    public static string? Default(string name) =>
        Properties.TryGetValue(name, out var property)
            ? Convert.ToString(property.GetValue(new GrowLengthSiloOptions()), CultureInfo.InvariantCulture)
            : null;

    /// <summary>The setting named by an environment variable <c>GROWLENGTH__KEY</c>, or null for any other variable.</summary>
    public static string? FromEnvironmentName(string variable) =>
        variable.StartsWith("GROWLENGTH__", StringComparison.Ordinal) ? variable["GROWLENGTH__".Length..] : null;

    /// <summary>Every <c>--GrowLength:Key=value</c> argument in a text, as (key, value).</summary>
    public static IEnumerable<(string Key, string Value)> FromArguments(string text) =>
        System.Text.RegularExpressions.Regex.Matches(text, @"--GrowLength:([A-Za-z0-9_]+)=([^\s""',\]]*)", System.Text.RegularExpressions.RegexOptions.IgnoreCase)
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value));
}
