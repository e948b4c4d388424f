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
