using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Kernels;
using static TorchSharp.torch;

namespace HyperpixelFlow.Matching;

/// <summary>
/// Hough matching with a given appearance term: similarity -> vote weights -> votes per offset -> Gaussian smoothing
/// -> confidence = weight x smoothed votes -> best matches (<see cref="RegularizedHoughMatching.Match"/>).
/// </summary>
internal sealed class HoughMatchingStep : IMatchingStep
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
