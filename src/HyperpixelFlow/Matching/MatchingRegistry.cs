using HyperpixelFlow.Hyperpixels;
using static TorchSharp.torch;

using HyperpixelFlow.Kernels;

namespace HyperpixelFlow.Matching;

/// <summary>
/// A registered matching step: its name, what it is, how to build it from the options, and how to describe the
/// settings of its that change results (for logs and diagnostics).
/// </summary>
public sealed record MatchingSpec(string Name, string Description, Func<HyperpixelFlowOptions, IMatchingStep> Create,
    Func<HyperpixelFlowOptions, string> DescribeSettings);

/// <summary>Matching steps by name: <c>MatchingRegistry.Create(options)</c> builds the one <c>options.Matching.Name</c> names.</summary>
public static class MatchingRegistry
{
    /// <summary>The paper's matching step.</summary>
    public const string PaperName = "rhm";

    /// <summary>Every registered matching step.</summary>
    public static IReadOnlyList<MatchingSpec> All { get; } =
    [
        new(PaperName, "regularized Hough matching (the paper): votes weighted by max(cos, 0)^3",
            o => new HoughMatchingStep(PaperName, o, () => new PowerWeighting(o.Matching.SimilarityExponent)),
            o => FormattableString.Invariant($"rhm(similarity exponent {o.Matching.SimilarityExponent})")),
        new("ot", "SCOT: votes weighted by an entropic optimal-transport plan between the hyperpixel sets (Sinkhorn)",
            o => new HoughMatchingStep("ot", o, () => new OptimalTransportWeighting(o.Matching.OptimalTransport)),
            o => FormattableString.Invariant($"ot(eps {o.Matching.OptimalTransport.Epsilon}, {o.Matching.OptimalTransport.Iterations} iteration{(o.Matching.OptimalTransport.Iterations == 1 ? "" : "s")}, cost exponent {o.Matching.OptimalTransport.CostExponent}, plan exponent {o.Matching.OptimalTransport.PlanExponent})")),
    ];

    /// <summary>The matching step of a name (case-insensitive); a clear error listing the known names otherwise.</summary>
    public static MatchingSpec Get(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new HyperpixelFlowException($"unknown matching step '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}");

    /// <summary>The matching step <paramref name="options"/> names, built with its settings.</summary>
    public static IMatchingStep Create(HyperpixelFlowOptions options) => Get(options.Matching.Name).Create(options);
}
