namespace HyperpixelFlow.Matching;

/// <summary>Settings of the optimal-transport matching step (<c>--matching ot</c>), SCOT's PF-WILLOW values by default.</summary>
public sealed record OptimalTransportOptions
{
    /// <summary>Entropic regularisation: smaller = a sharper plan.</summary>
    public double Epsilon { get; init; } = 0.05;

    /// <summary>Sinkhorn iterations (SCOT runs one).</summary>
    public int Iterations { get; init; } = 1;

    /// <summary>Cost = 1 - max(cos, 0)^CostExponent.</summary>
    public int CostExponent { get; init; } = 1;

    /// <summary>Vote weight = (N x plan)^PlanExponent (SCOT: 0.5 on PF-PASCAL and PF-WILLOW, 1 on SPair-71k).</summary>
    public double PlanExponent { get; init; } = 0.5;

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (!(Epsilon > 0) || !double.IsFinite(Epsilon)) throw new HyperpixelFlowException($"the OT epsilon must be a positive number, got {Epsilon}");
        if (Iterations < 1) throw new HyperpixelFlowException($"the OT iterations must be at least 1, got {Iterations}");
        if (CostExponent < 1) throw new HyperpixelFlowException($"the OT cost exponent must be >= 1, got {CostExponent}");
        if (!(PlanExponent > 0) || !double.IsFinite(PlanExponent)) throw new HyperpixelFlowException($"the OT plan exponent must be a positive number, got {PlanExponent}");
    }
}
