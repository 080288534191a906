using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using GrowLength.Grains.Hosting;

namespace GrowLength.Grains.Workers;

/// <summary>A ring member's connection to its right neighbour's <see cref="GradientListener"/>: chunks go from the gradient
/// buffer to the socket with no managed copy. Used by one thread at a time (a step's exchange thread); every write is
/// bounded by the send timeout, and a dead peer fails it (a reset, or the timeout).</summary>
internal sealed class SocketChunkSender : IDisposable
{
    private readonly Socket socket;
    private readonly Stream stream;
    private readonly byte[] header = new byte[ChunkWire.HeaderBytes];

    private SocketChunkSender(Socket socket, Stream stream)
    {
        this.socket = socket;
        this.stream = stream;
    }

    /// <summary>The listener's address, for messages.</summary>
    public required EndPoint Peer { get; init; }

    /// <summary>Connects, authenticates (mutual TLS when <paramref name="tls"/> is set) and presents
    /// <paramref name="token"/> for worker <paramref name="workerKey"/>, each step bounded by <paramref name="timeout"/>.</summary>
    /// <exception cref="IOException">the connection, the TLS handshake or the token was refused, or it timed out.</exception>
    public static SocketChunkSender Connect(IPEndPoint endpoint, string workerKey, byte[] token, ClusterCertificates? tls, TimeSpan timeout)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = ChunkWire.SocketBufferBytes };
        Stream? stream = null;
        try
        {
            using (var connecting = new CancellationTokenSource(timeout))
            {
                try
                {
                    socket.ConnectAsync(endpoint, connecting.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                    throw new IOException($"could not connect to {endpoint} within {timeout.TotalSeconds:F0} s");
                }
            }
            int milliseconds = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            socket.SendTimeout = milliseconds;
            socket.ReceiveTimeout = milliseconds;
            stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, remote, _, _) => remote is X509Certificate2 peer && tls.Verify(peer) is null);
                stream = ssl;
                ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
                {
                    // The identity checked is the cluster's authority, not a host name (ClusterCertificates).
                    TargetHost = "growlength",
                    ClientCertificates = [tls.Certificate],
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                });
            }
            stream.Write(ChunkWire.Hello(workerKey, token));
            stream.Flush();
            if (stream.ReadByte() != ChunkWire.Accepted)
                throw new IOException($"the gradient listener at {endpoint} refused worker {workerKey}'s chunks (the worker left, or the token is stale)");
            return new SocketChunkSender(socket, stream) { Peer = endpoint };
        }
        catch
        {
            if (stream is not null) stream.Dispose();
            else socket.Dispose();
            throw;
        }
    }

    /// <summary>The longest one write may block (the step's deadline).</summary>
    public TimeSpan Timeout
    {
        set => socket.SendTimeout = (int)Math.Min(int.MaxValue, value.TotalMilliseconds);
    }

    /// <summary>Writes one frame: the chunk's place and its bytes, straight from <paramref name="payload"/>.</summary>
    public void Send(long epoch, long step, int bucket, int round, int segment, int chunk, ReadOnlySpan<byte> payload)
    {
        ChunkWire.WriteHeader(header, epoch, step, bucket, round, segment, chunk, payload.Length);
        stream.Write(header);
        stream.Write(payload);
    }

    public void Dispose() => stream.Dispose();
}
