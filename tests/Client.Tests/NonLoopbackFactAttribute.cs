using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace GrowLength.Client.Tests;

/// <summary>A fact about listeners seen from another interface: skipped, with the reason, on a machine whose only IPv4
/// address is loopback (a network-less container), where it could neither pass nor fail for the right reason.</summary>
public sealed class NonLoopbackFactAttribute : FactAttribute
{
    public NonLoopbackFactAttribute()
    {
        if (Address is null) Skip = "this machine has no IPv4 address but loopback, so nothing can be reached (or not) from another interface";
    }

    /// <summary>An IPv4 address of an interface of this machine that is up and not loopback, or null when there is none.</summary>
    public static IPAddress? Address { get; } = NetworkInterface.GetAllNetworkInterfaces()
        .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(i => i.GetIPProperties().UnicastAddresses)
        .Select(a => a.Address)
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
