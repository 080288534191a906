using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GrowLength.Grains.Workers;

/// <summary>The silo's end of the gradient data plane: a TCP listener that takes gradient chunks from ring neighbours on
/// other silos straight into their worker's inbox, without Orleans' message serialization (which moved a 4 MB chunk
/// between two silo processes at about 0.2 GB/s; docs/benchmarks.md).</summary>
/// <remarks>
/// It listens where the silo does: loopback by default, <see cref="GrowLengthSiloOptions.AdvertisedAddress"/> when set,
/// every interface only with <see cref="GrowLengthSiloOptions.ListenOnAllInterfaces"/>. With the silo's TLS settings every
/// connection is mutual TLS under the cluster's authority, as Orleans' own are. A sender must also present the 16-byte
/// token of the worker it sends to, which that worker hands out only through a cluster-internal grain call, so a client
/// of the cluster cannot inject chunks. <see cref="GrowLengthSiloOptions.ExchangePort"/> -1 turns it off: chunks then go
/// as grain calls.
/// </remarks>
public sealed class GradientListener(IOptions<GrowLengthSiloOptions> options, DeviceSlotHost slots, ILogger<GradientListener> logger)
    : IHostedService, IDisposable
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly GrowLengthSiloOptions settings = options.Value;
    private readonly List<Socket> connections = [];
    private Socket? listener;
    private X509Certificate2? certificate;
    private ClusterCertificates? tls;
    private volatile bool stopping;
    private long accepted;

    /// <summary>Where peers reach this silo's data plane; null when it is off.</summary>
    public IPEndPoint? Endpoint { get; private set; }

    /// <summary>Senders whose handshake was accepted since the silo started.</summary>
    public long AcceptedSenders => Interlocked.Read(ref accepted);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.ExchangePort < 0) return Task.CompletedTask;
        tls = slots.Tls;
        certificate = tls?.Certificate;
        var advertised = settings.AdvertisedIp() ?? IPAddress.Loopback;
        var bind = settings.ListenOnAllInterfaces ? IPAddress.Any : advertised;
        // Set before listening: accepted connections inherit it, and only then does it size the window they offer.
        listener = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = ChunkWire.SocketBufferBytes };
        try
        {
            listener.Bind(new IPEndPoint(bind, settings.ExchangePort));
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new RunRequestException($"{GrowLengthSiloOptions.Section}:ExchangePort",
                $"cannot listen on {bind}:{settings.ExchangePort} for gradient chunks: {e.Message}. Choose a free port, 0 for any, or -1 to send them as grain calls.");
        }
        listener.Listen(16);
        Endpoint = new IPEndPoint(advertised, ((IPEndPoint)listener.LocalEndPoint!).Port);
        logger.LogInformation("Gradient data plane of silo {Silo} listens on {Bind}:{Port}{Tls}", slots.SiloName, bind, Endpoint.Port,
            tls is null ? "" : " (mutual TLS)");
        var thread = new Thread(Accept) { IsBackground = true, Name = "growlength gradient listener" };
        thread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        stopping = true;
        listener?.Dispose();
        lock (connections)
        {
            foreach (var connection in connections) connection.Dispose();
            connections.Clear();
        }
        return Task.CompletedTask;
    }

    public void Dispose() => StopAsync(CancellationToken.None);

    private void Accept()
    {
        while (!stopping)
        {
            Socket connection;
            try
            {
                connection = listener!.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!stopping) logger.LogWarning("Gradient data plane of silo {Silo} stopped accepting: {Problem}", slots.SiloName, e.Message);
                return;
            }
            lock (connections)
            {
                if (stopping)
                {
                    connection.Dispose();
                    return;
                }
                connections.Add(connection);
            }
            // A thread per sender (a silo sees one per remote ring neighbour of each of its workers): its reads block.
            new Thread(() => Serve(connection)) { IsBackground = true, Name = "growlength gradient receiver" }.Start();
        }
    }

    private void Serve(Socket connection)
    {
        var peer = connection.RemoteEndPoint?.ToString() ?? "?";
        try
        {
            connection.NoDelay = true;
            // A sender whose machine vanished sends no FIN: keep-alive ends this thread within about two minutes then.
            connection.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 60);
            connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
            connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 6);
            connection.ReceiveTimeout = (int)HandshakeTimeout.TotalMilliseconds;
            using Stream stream = Secure(new NetworkStream(connection, ownsSocket: true));
            var hello = ChunkWire.ReadHello(stream);
            var loop = hello is { } h ? slots.Find(h.WorkerKey) : null;
            if (hello is null || loop is null || !loop.IsRunning || !CryptographicOperations.FixedTimeEquals(loop.ExchangeToken, hello.Value.Token))
            {
                logger.LogWarning("Gradient data plane of silo {Silo} refused {Peer}: {Why}", slots.SiloName, peer,
                    hello is null ? "not a gradient sender" : loop is null || !loop.IsRunning ? $"no worker {hello.Value.WorkerKey} here" : "wrong token");
                stream.WriteByte(ChunkWire.Refused);
                return;
            }
            stream.WriteByte(ChunkWire.Accepted);
            stream.Flush();
            Interlocked.Increment(ref accepted);
            // Between steps a connection may rest for minutes (evaluations, checkpoints): no read deadline from here on. The
            // ring's own waits are bounded; this thread ends when the sender closes (a new epoch) or the silo stops.
            connection.ReceiveTimeout = 0;
            Span<byte> header = stackalloc byte[ChunkWire.HeaderBytes];
            while (!stopping)
            {
                if (!ReadOrEnd(stream, header)) return;
                var (epoch, step, bucket, round, segment, chunk, payload) = ChunkWire.ReadHeader(header);
                if (payload < 0 || payload > ChunkWire.MaxPayload || payload % sizeof(float) != 0)
                    throw new InvalidDataException($"a frame announces {payload} payload bytes");
                var data = GradientChunkPool.Shared.Rent(payload);
                stream.ReadExactly(data);
                loop.Inbox.Deliver(new GradientChunk(epoch, step, bucket, round, segment, chunk, data));
            }
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or InvalidDataException or InvalidOperationException or ObjectDisposedException)
        {
            if (!stopping) logger.LogInformation("Gradient data plane of silo {Silo}: the connection from {Peer} ended: {Problem}", slots.SiloName, peer, e.Message);
        }
        finally
        {
            lock (connections) connections.Remove(connection);
            connection.Dispose();
        }
    }

    /// <summary>Fills <paramref name="buffer"/>; false when the sender closed the connection before its first byte.</summary>
    private static bool ReadOrEnd(Stream stream, Span<byte> buffer)
    {
        int first = stream.Read(buffer);
        if (first == 0) return false;
        if (first < buffer.Length) stream.ReadExactly(buffer[first..]);
        return true;
    }

    private Stream Secure(NetworkStream stream)
    {
        if (tls is null) return stream;
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, remote, _, _) => remote is X509Certificate2 peer && tls.Verify(peer) is null);
        ssl.AuthenticateAsServer(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        });
        return ssl;
    }
}
