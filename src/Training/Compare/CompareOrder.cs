namespace GrowLength.Training.Compare;

/// <summary>The order a comparison trains its runs in.</summary>
public static class CompareOrder
{
    /// <summary>Every (repeat, budget, arm) as 1-based repeat and 0-based budget and arm indices, repeat outermost, then
    /// budget, then arm: the machine's slow spells (other tenants, heat) then spread over every arm and budget of a repeat
    /// instead of landing on one arm's seeds or on one budget.</summary>
    public static IEnumerable<(int Repeat, int Budget, int Arm)> Runs(int repeats, int budgets, int arms)
    {
        for (int repeat = 1; repeat <= repeats; repeat++)
            for (int budget = 0; budget < budgets; budget++)
                for (int arm = 0; arm < arms; arm++)
                    yield return (repeat, budget, arm);
    }
}
