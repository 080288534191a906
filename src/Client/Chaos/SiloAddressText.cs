using System.Globalization;

namespace GrowLength.Client.Chaos;

/// <summary>Reads the silo port out of an Orleans silo address as WorkerInfo.Silo carries it (SiloAddress.ToString():
/// "S127.0.0.1:11111:123456789"; also the parsable "127.0.0.1:11111@123456789").</summary>
internal static class SiloAddressText
{
    /// <summary>The port, or null when <paramref name="silo"/> is not a silo address.</summary>
    public static int? Port(string silo)
    {
        var text = silo.StartsWith('S') ? silo[1..] : silo;
        var at = text.IndexOf('@');
        if (at >= 0) text = text[..at];
        // host:port:generation; an IPv6 host has colons of its own, so count from the end.
        var parts = text.Split(':');
        var port = at >= 0 ? parts[^1] : parts.Length >= 3 ? parts[^2] : parts.Length == 2 ? parts[1] : "";
        return int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is > 0 and < 65536 ? value : null;
    }
}
