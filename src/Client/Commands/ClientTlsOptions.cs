using System.CommandLine;
using GrowLength.Grains;
using GrowLength.Grains.Hosting;

namespace GrowLength.Client.Commands;

/// <summary>The client's mutual-TLS files for --cluster: --tls-cert, --tls-key and --tls-ca, or the GROWLENGTH_TLS_CERT,
/// GROWLENGTH_TLS_KEY and GROWLENGTH_TLS_CA variables; all three or none.</summary>
internal sealed class ClientTlsOptions
{
    public const string CertificateVariable = "GROWLENGTH_TLS_CERT";
    public const string KeyVariable = "GROWLENGTH_TLS_KEY";
    public const string AuthorityVariable = "GROWLENGTH_TLS_CA";

    private readonly Option<string> certificate = new("--tls-cert")
    {
        Description = $"PEM certificate this client presents to a cluster that requires mutual TLS (with --cluster; or {CertificateVariable}).",
        Recursive = true,
    };

    private readonly Option<string> key = new("--tls-key")
    {
        Description = $"PEM private key of --tls-cert (or {KeyVariable}).",
        Recursive = true,
    };

    private readonly Option<string> authority = new("--tls-ca")
    {
        Description = $"PEM certificate of the cluster's authority, which the gateway's certificate must chain to (or {AuthorityVariable}).",
        Recursive = true,
    };

    public void AddTo(Command root)
    {
        root.Add(certificate);
        root.Add(key);
        root.Add(authority);
    }

    /// <summary>The certificates to connect to the gateways with, read and checked; null when none of the three is given.
    /// Only asked for with --cluster: the variables may be set for every command, and the embedded silo uses no TLS.</summary>
    /// <exception cref="RunRequestException">only some are given, or a file is missing or wrong: names the option (or the
    /// variable it came from) and the file.</exception>
    public ClusterCertificates? Load(ParseResult parse)
    {
        var files = new[] { From(parse, certificate, CertificateVariable), From(parse, key, KeyVariable), From(parse, authority, AuthorityVariable) };
        var given = files.Where(f => f is not null).ToList();
        if (given.Count == 0) return null;
        if (given.Count < files.Length)
        {
            var names = new[] { (certificate.Name, CertificateVariable), (key.Name, KeyVariable), (authority.Name, AuthorityVariable) };
            var missing = names[Array.FindIndex(files, f => f is null)];
            throw new RunRequestException(missing.Name,
                $"is required with {string.Join(" and ", given.Select(f => f!.Setting))}: give all three of --tls-cert, --tls-key and --tls-ca (or {missing.Item2}), or none.");
        }
        return ClusterCertificates.Load(files[0]!, files[1]!, files[2]!, ClusterCertificates.ClientAuthentication);
    }

    private static ClusterCertificates.PemFile? From(ParseResult parse, Option<string> option, string variable)
    {
        if (parse.GetValue(option) is { Length: > 0 } path) return new(option.Name, path);
        return Environment.GetEnvironmentVariable(variable) is { Length: > 0 } fromEnvironment ? new(variable, fromEnvironment) : null;
    }
}
