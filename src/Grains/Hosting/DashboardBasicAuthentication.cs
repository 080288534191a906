using System.Security.Cryptography;
using System.Text;

namespace GrowLength.Grains.Hosting;

/// <summary>Checks an HTTP <c>Authorization</c> header against the dashboard's one user and password (RFC 7617 basic).</summary>
public static class DashboardBasicAuthentication
{
    /// <summary>What a browser is told on a refusal, so it asks for the user and password.</summary>
    public const string Challenge = "Basic realm=\"GrowLength Orleans Dashboard\", charset=\"UTF-8\"";

    /// <summary>True when <paramref name="authorization"/> is <c>Basic base64(user:password)</c> with exactly these two.</summary>
    public static bool Allows(string? authorization, string user, string password)
    {
        const string Scheme = "Basic ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)) return false;
        string credentials;
        try
        {
            credentials = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[Scheme.Length..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }
        var colon = credentials.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0) return false;
        // Both halves compared, and in constant time over their hashes, so the answer's timing says nothing about either.
        var userMatches = SameText(credentials[..colon], user);
        var passwordMatches = SameText(credentials[(colon + 1)..], password);
        return userMatches & passwordMatches;
    }

    private static bool SameText(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
}
