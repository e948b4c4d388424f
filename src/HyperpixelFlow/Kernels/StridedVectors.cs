namespace HyperpixelFlow.Kernels;

/// <summary>
/// Vectors of k floats read where they lie: value t of vector i at
/// <c>first + t x ValueStride + (i / Width) x RowStride + (i % Width) x VectorStride</c>. The rows of a row-major
/// matrix, its columns, or the hyperpixels of a window of a [k, H, W] feature map (vectors adjacent along a window row,
/// rows a map row apart, values a map apart), so that the GEMM's packers read features without a copy first.
/// The memory must outlive the value.
/// </summary>
internal readonly unsafe struct StridedVectors
{
    private readonly float* _first;
    private readonly int _width;
    private readonly long _rowStride, _vectorStride;

    public StridedVectors(float* first, long valueStride, int width, long rowStride, long vectorStride)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        _first = first;
        (ValueStride, _width, _rowStride, _vectorStride) = (valueStride, width, rowStride, vectorStride);
    }

    /// <summary>The rows of a row-major [n, k] matrix.</summary>
    public static StridedVectors Rows(float* a, int k) => new(a, 1, int.MaxValue, 0, k);

    /// <summary>The columns of a row-major [k, m] matrix.</summary>
    public static StridedVectors Columns(float* b, int m) => new(b, m, int.MaxValue, 0, 1);

    /// <summary>
    /// The cells of a window of a [k, mapHeight, mapWidth] map, window row by window row: the window's first cell at
    /// <paramref name="windowStart"/>, <paramref name="windowWidth"/> cells per row.
    /// </summary>
    public static StridedVectors Window(float* windowStart, int mapHeight, int mapWidth, int windowWidth) =>
        new(windowStart, (long)mapHeight * mapWidth, windowWidth, mapWidth, 1);

    /// <summary>The same vectors from value <paramref name="start"/> on (a block of their values).</summary>
    public StridedVectors From(int start) => new(_first + start * ValueStride, ValueStride, _width, _rowStride, _vectorStride);

    /// <summary>Floats between a vector's consecutive values.</summary>
    public long ValueStride { get; }

    /// <summary>Where vector i's first value lies.</summary>
    public float* Vector(int i) => _first + (long)(i / _width) * _rowStride + (long)(i % _width) * _vectorStride;

    /// <summary>Whether vectors [i, i + count) lie next to each other, so that each value's run can be copied at once.</summary>
    public bool Adjacent(int i, int count) =>
        _vectorStride == 1 && (i / _width == (i + count - 1) / _width || _rowStride == _width);
}
