using System.Runtime.InteropServices;

namespace GrowLength.Client.Commands;

/// <summary>Turns Ctrl+C and SIGTERM into a graceful stop request (the loop finishes its step and checkpoints).</summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource source = new();
    private readonly PosixSignalRegistration? term;

    public StopSignal()
    {
        Console.CancelKeyPress += OnCancelKey;
        term = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            source.Cancel();
        });
    }

    public CancellationToken Token => source.Token;

    private void OnCancelKey(object? sender, ConsoleCancelEventArgs e)
    {
        // The first Ctrl+C asks for a graceful stop; a second one ends the process at once.
        if (source.IsCancellationRequested) return;
        e.Cancel = true;
        source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKey;
        term?.Dispose();
        source.Dispose();
    }
}
