using HyperpixelFlow.Hyperpixels;
using static TorchSharp.torch;

namespace HyperpixelFlow.Matching;

/// <summary>
/// The matching step of the pipeline: two hyperpixel sets in, the best match of every hyperpixel both ways (with its
/// confidence) out. Created by name through <see cref="MatchingRegistry"/>; not thread-safe (one per matcher).
/// </summary>
public interface IMatchingStep : IDisposable
{
    /// <summary>The registry name (<c>rhm</c>, <c>ot</c>, ...).</summary>
    string Name { get; }

    /// <summary>Matches every source hyperpixel to a target hyperpixel and back.</summary>
    HoughMatch Match(HyperpixelSet source, HyperpixelSet target, StageTimer? timer = null);

    /// <summary>
    /// The whole confidence matrix [N source, M target hyperpixels] whose row maxima <see cref="Match"/> picks, for
    /// inspection (how strongly every target hyperpixel answers a source one). Dense: N x M floats.
    /// </summary>
    Tensor Confidence(HyperpixelSet source, HyperpixelSet target);
}

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

/// <summary>
/// Hough matching with a given appearance term: similarity -> vote weights -> votes per offset -> Gaussian smoothing
/// -> confidence = weight x smoothed votes -> best matches (<see cref="RegularizedHoughMatching.Match"/>).
/// </summary>
public sealed class HoughMatchingStep : IMatchingStep
{
    private readonly Func<VoteWeighting> _weighting;
    private readonly Tensor _gaussian;
    private readonly SimilarityWorkspace _workspace = new();
    private readonly int _cells;
    private readonly long _maxBlockBytes;
    private readonly int _refineRadius;

    /// <param name="name">the registry name</param>
    /// <param name="options">Hough cells, kernel size, block size and refinement radius come from here</param>
    /// <param name="weighting">a fresh weighting per pair (a weighting may hold per-pair state)</param>
    public HoughMatchingStep(string name, HyperpixelFlowOptions options, Func<VoteWeighting> weighting)
    {
        Name = name;
        _weighting = weighting;
        _cells = options.Matching.HoughCells;
        _maxBlockBytes = options.Runtime.MaxSimilarityBlockBytes;
        _refineRadius = options.Matching.SubHyperpixelRadius;
        weighting();   // validates the weighting's settings now rather than at the first pair
        _gaussian = RegularizedHoughMatching.GaussianKernel(options.Matching.HoughKernelSize);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public HoughMatch Match(HyperpixelSet source, HyperpixelSet target, StageTimer? timer = null) =>
        RegularizedHoughMatching.Match(source, target, _cells, _weighting(), _gaussian, timer, _maxBlockBytes, _workspace, _refineRadius);

    /// <inheritdoc />
    public Tensor Confidence(HyperpixelSet source, HyperpixelSet target) =>
        RegularizedHoughMatching.Confidence(source, target, _cells, _weighting(), _gaussian);

    /// <inheritdoc />
    public void Dispose()
    {
        _gaussian.Dispose();
        _workspace.Dispose();
    }
}
