using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Matching;

/// <summary>
/// The grid offsets a pair of hyperpixels can have. Box centres are cell x stride, so along x a pair's pixel offset is
/// unit x (TargetStep x xt - SourceStep x xs) plus a constant, with unit = gcd of the two strides: one index per distinct
/// offset, Width x Height of them (window cells; with equal strides the index is xt - xs + ws - 1). Different strides
/// arise when the target grid is coarser than the source's (<see cref="HyperpixelOptions.TargetStride"/>).
/// </summary>
internal sealed record OffsetLattice(int SourceStep, int TargetStep, int SourceWidth, int SourceHeight, int TargetWidth, int TargetHeight)
{
    public static OffsetLattice Of(HyperpixelGrid source, HyperpixelGrid target)
    {
        int unit = (int)System.Numerics.BigInteger.GreatestCommonDivisor(source.Stride, target.Stride);
        return new(source.Stride / unit, target.Stride / unit, source.Width, source.Height, target.Width, target.Height);
    }

    public bool SameSteps => SourceStep == TargetStep;
    public int Width => SourceStep * (SourceWidth - 1) + TargetStep * (TargetWidth - 1) + 1;
    public int Height => SourceStep * (SourceHeight - 1) + TargetStep * (TargetHeight - 1) + 1;

    /// <summary>Offset index along x of source window column xs and target window column xt.</summary>
    public int X(int xs, int xt) => TargetStep * xt + SourceStep * (SourceWidth - 1 - xs);

    /// <summary>Offset index along y of source window row ys and target window row yt.</summary>
    public int Y(int ys, int yt) => TargetStep * yt + SourceStep * (SourceHeight - 1 - ys);
}
