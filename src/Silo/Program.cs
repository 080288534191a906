using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Hosting;

// Keep glibc from unmapping and re-faulting libtorch's step buffers (a no-op under a preloaded tcmalloc); see the class.
GrowLength.Training.Native.GlibcMallocTuning.Apply();

// One silo. Several on one machine: give each its own ports and point the others at the first, e.g.
//   GrowLength.Silo --GrowLength:SiloPort=11112 --GrowLength:GatewayPort=30001 --GrowLength:MetricsPort=9465 --GrowLength:PrimarySiloEndpoint=127.0.0.1:11111
// or keep membership and state in PostgreSQL, where no silo is special (README: "Two silos on PostgreSQL"):
//   GrowLength.Silo --GrowLength:Clustering=postgres --GrowLength:PostgresConnection="Host=...;Database=growlength"
var builder = Host.CreateApplicationBuilder(args);
IHost host;
try
{
    builder.UseGrowLengthSilo();
    host = builder.Build();
    // PostgreSQL reached and its schema brought up to date before Orleans starts (nothing with development clustering).
    await host.PrepareGrowLengthStorage();
}
catch (RunRequestException e)
{
    // A bad setting, a state folder another cluster owns, or a database schema this build cannot use: one line naming
    // it, and nothing started.
    Console.Error.WriteLine($"error: {e.Subject}: {e.Problem}");
    return 2;
}
catch (DatabaseUnavailableException e)
{
    Console.Error.WriteLine($"error: {e.Setting}: {e.Message}");
    return 3;
}
await host.RunAsync();
return 0;
