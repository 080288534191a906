using System.CommandLine;
using System.Net;
using System.Text;
using GrowLength.Training;

namespace GrowLength.Client.Commands;

/// <summary>`growlength certs`: a throwaway certificate authority with a silo and a client certificate, as PEM files,
/// and the settings that use them.</summary>
internal static class CertsCommand
{
    private static readonly string[] Files = ["ca.crt", "ca.key", "silo.crt", "silo.key", "client.crt", "client.key"];

    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder to write the files to (made if missing); none of them may exist there already.", Required = true };
        var hosts = new Option<string?>("--hosts")
        {
            Description = "Host names and IP addresses the silos are reached at, comma-separated, for the silo certificate's names (localhost and 127.0.0.1 are always in). "
                + "Peers check the authority's signature, not the names; they are there for other TLS tools.",
        };
        var days = new Option<int>("--days") { Description = "Days the certificates are valid.", DefaultValueFactory = _ => 365 };
        var command = new Command("certs",
            "Make a throwaway certificate authority (ca.crt, ca.key) and a silo (silo.crt, silo.key) and a client (client.crt, client.key) certificate it signs, "
            + "for mutual TLS between silos and clients: ECDSA P-256, PEM, keys readable by their owner only.")
        {
            output, hosts, days,
        };
        command.SetAction(parse => Write(parse.GetValue(output)!.FullName, Hosts(parse.GetValue(hosts)), parse.GetValue(days)));
        return command;
    }

    private static List<string> Hosts(string? list)
    {
        var hosts = new List<string> { "localhost", "127.0.0.1" };
        foreach (var host in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPAddress.TryParse(host, out _) && Uri.CheckHostName(host) != UriHostNameType.Dns)
                throw new RunInputException("--hosts", $"'{host}' is neither an IP address nor a host name.");
            if (!hosts.Contains(host, StringComparer.OrdinalIgnoreCase)) hosts.Add(host);
        }
        return hosts;
    }

    private static int Write(string folder, List<string> hosts, int days)
    {
        if (days is < 1 or > 3650) throw new RunInputException("--days", $"must be 1 to 3650 (is {days}).");
        var existing = Files.Select(f => Path.Combine(folder, f)).Where(File.Exists).ToList();
        if (existing.Count > 0)
            throw new RunInputException("--out", $"{string.Join(", ", existing)} exist{(existing.Count == 1 ? "s" : "")} already; certs does not overwrite (give another folder, or remove them).");
        Directory.CreateDirectory(folder);
        using var authority = ThrowawayAuthority.Create(days);
        var silo = authority.Issue("growlength silo", hosts);
        var client = authority.Issue("growlength client", []);
        var contents = new (string File, string Text, string What)[]
        {
            ("ca.crt", authority.Certificate.ExportCertificatePem(), $"the authority ({authority.Certificate.Subject}): every silo and client trusts it"),
            ("ca.key", authority.KeyPem, "the authority's key: it signs new members; keep it off the cluster"),
            ("silo.crt", silo.Certificate, $"the silos' certificate, for {string.Join(", ", hosts)}"),
            ("silo.key", silo.Key, "its key"),
            ("client.crt", client.Certificate, "the client's certificate"),
            ("client.key", client.Key, "its key"),
        };
        foreach (var (file, text, what) in contents)
        {
            var path = Path.Combine(folder, file);
            WriteNew(path, text, secret: file.EndsWith(".key", StringComparison.Ordinal));
            Console.WriteLine($"wrote {path}: {what}");
        }
        var at = (string file) => Path.Combine(folder, file);
        Console.WriteLine($"valid until {authority.Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC.");
        Console.WriteLine("Each silo (src/Silo or `growlength silo`), with silo.crt, silo.key and ca.crt on its machine:");
        Console.WriteLine($"  --GrowLength:TlsCertificate={at("silo.crt")} --GrowLength:TlsKey={at("silo.key")} --GrowLength:TlsAuthority={at("ca.crt")}");
        Console.WriteLine("The growlength client, with --cluster:");
        Console.WriteLine($"  --tls-cert {at("client.crt")} --tls-key {at("client.key")} --tls-ca {at("ca.crt")}");
        return ExitCodes.Success;
    }

    /// <summary>Creates <paramref name="path"/> (never over an existing file: two runs racing on one folder cannot
    /// overwrite each other), a key readable by its owner only from the start.</summary>
    private static void WriteNew(string path, string text, bool secret)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (secret && !OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        FileStream stream;
        try
        {
            stream = new FileStream(path, options);
        }
        catch (IOException e) when (File.Exists(path))
        {
            throw new RunInputException("--out", $"{path} appeared while writing ({e.Message}); certs does not overwrite.");
        }
        using (stream) stream.Write(Encoding.ASCII.GetBytes(text));
    }
}
