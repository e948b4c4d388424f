namespace HyperpixelFlow.Matching;

/// <summary>
/// The discretised space of translations between a source and a target image: (Ws + Wt) x (Hs + Ht) pixels split
/// into about <c>cells</c> square cells of side <see cref="CellSize"/>.
/// </summary>
public sealed record HoughSpace(int BinsX, int BinsY, double CellSize)
{
    /// <summary>The Hough space of a source and a target image of the given sizes with about <paramref name="cells"/> cells.</summary>
    public static HoughSpace For(int sourceWidth, int sourceHeight, int targetWidth, int targetHeight, int cells)
    {
        int width = sourceWidth + targetWidth, height = sourceHeight + targetHeight;
        double cell = Math.Sqrt((double)width * height / cells);
        return new HoughSpace((int)(width / cell) + 1, (int)(height / cell) + 1, cell);
    }

    /// <summary>
    /// Bin of a vote at coordinate <paramref name="vote"/> = (source extent - source centre + target centre), computed
    /// in float32 as the reference implementation does, and clamped into range.
    /// </summary>
    public int Bin(int vote, int bins) => Math.Clamp((int)((float)vote / (float)CellSize), 0, bins - 1);
}
