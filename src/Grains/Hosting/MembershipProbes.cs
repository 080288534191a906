using Orleans.Configuration;

namespace GrowLength.Grains.Hosting;

/// <summary>How fast a silo that died without a word (SIGKILL, a lost machine) is declared dead, which is what lets a
/// run's survivors go on: Orleans' defaults (a 5 s probe timeout, 3 missed probes, 2 votes) take some 15–60 s; these
/// take a few seconds on a loopback or LAN cluster, at the cost of declaring a silo dead that stalls for over ~3 s.</summary>
public static class MembershipProbes
{
    /// <summary>A probe is missed after this long without an answer.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Missed probes in a row before a silo suspects its peer.</summary>
    public const int MissedProbes = 3;

    public static void Apply(ClusterMembershipOptions o)
    {
        o.ProbeTimeout = ProbeTimeout;
        o.NumMissedProbesLimit = MissedProbes;
        // One suspicion is enough: with two or three silos a second voter may not exist, and the suspect is then declared
        // dead only when the table's own timeouts expire.
        o.NumVotesForDeathDeclaration = 1;
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
        o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
    }
}
