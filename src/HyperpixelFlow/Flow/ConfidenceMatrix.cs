using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Flow;

/// <summary>
/// How strongly every target hyperpixel answers one source hyperpixel: a map over the target's hyperpixel grid.
/// <see cref="Values"/> holds <see cref="Width"/> x <see cref="Height"/> cells row by row, relative to the map's
/// largest value (0..1); cell (i, j) is centred at <see cref="FirstCenter"/> + (i, j) x <see cref="Step"/> in
/// original target pixels.
/// </summary>
/// <param name="SourceHyperpixel">the source hyperpixel's box centre in original source pixels</param>
/// <param name="Width">cells across the target grid</param>
/// <param name="Height">cells down the target grid</param>
/// <param name="FirstCenter">the first cell's centre, original target pixels</param>
/// <param name="Step">between neighbouring cell centres, original target pixels</param>
/// <param name="Values">Width x Height values, row by row, 0..1</param>
internal sealed record AnswerMap(Point2 SourceHyperpixel, int Width, int Height, Point2 FirstCenter, Point2 Step, float[] Values);

/// <summary>
/// The whole confidence matrix of a pair's primary variant (first scale, target not mirrored): the values whose row
/// maxima are the best matches. Held as plain floats (source hyperpixels x target hyperpixels), so it outlives the
/// hyperpixels it came from.
/// </summary>
internal sealed class ConfidenceMatrix
{
    private readonly float[] _values;
    private readonly HyperpixelGrid _source, _target;
    private readonly float _sourceScale, _targetScale;

    /// <param name="values">row-major [source.Count, target.Count]</param>
    /// <param name="source">the source view's hyperpixel grid</param>
    /// <param name="target">the target view's hyperpixel grid</param>
    /// <param name="sourceScale">original source pixels x this = the source view's pixels</param>
    /// <param name="targetScale">original target pixels x this = the target view's pixels</param>
    public ConfidenceMatrix(float[] values, HyperpixelGrid source, HyperpixelGrid target, float sourceScale, float targetScale)
    {
        if (values.Length != (long)source.Count * target.Count)
            throw new ArgumentException($"{values.Length} values for a {source.Count} x {target.Count} matrix", nameof(values));
        (_values, _source, _target, _sourceScale, _targetScale) = (values, source, target, sourceScale, targetScale);
    }

    /// <summary>The row of the source hyperpixel whose box centre is nearest to a point given in original source pixels.</summary>
    public AnswerMap Row(Point2 sourcePoint)
    {
        int Nearest(double resized, int first, int count) => Math.Clamp(_source.NearestCell(resized), first, first + count - 1) - first;
        int ix = Nearest(sourcePoint.X * _sourceScale, _source.X0, _source.Width);
        int iy = Nearest(sourcePoint.Y * _sourceScale, _source.Y0, _source.Height);
        int m = _target.Count;
        var row = new float[m];
        Array.Copy(_values, (long)(iy * _source.Width + ix) * m, row, 0, m);
        float max = row.Max();
        if (max > 0) for (int j = 0; j < m; j++) row[j] = Math.Max(row[j], 0) / max;
        var t = _target;
        return new AnswerMap(
            new Point2(_source.Center(_source.X0 + ix) / (double)_sourceScale, _source.Center(_source.Y0 + iy) / (double)_sourceScale),
            t.Width, t.Height,
            new Point2(t.Center(t.X0) / (double)_targetScale, t.Center(t.Y0) / (double)_targetScale),
            new Point2(t.Stride / (double)_targetScale, t.Stride / (double)_targetScale), row);
    }
}
