#version 330 core
// Edge anti-aliasing of a single-sample foreground: FXAA 3.11's "quality" algorithm (Timothy
// Lottes, NVIDIA, 2011), rewritten for linear premultiplied RGBA. An edge pixel is found from
// the contrast of its cross of neighbours, the edge's direction from second differences over its
// 3x3 block, its ends by walking along it; the pixel is then blended with its neighbour across
// the edge by the area a straight edge between those ends would cover (MLAA's triangle). Blends
// are convex sums of premultiplied texels (one bilinear lookup), so rgb <= alpha survives and
// silhouettes get partial alpha that composites OVER the plate as MSAA coverage would.
//
// Two passes, because a CPU rasteriser (llvmpipe) runs both sides of a branch: an early exit
// saves nothing, and the full filter on every pixel cost 8x the compositor. MARK_EDGES copies
// every pixel exactly and writes depth 0 where the contrast makes an edge, 1 elsewhere; the
// filter pass then runs depth-tested (GREATER, at depth 0.5), so the rasteriser's early depth
// test skips every block without an edge. Defines: MARK_EDGES (the first pass), USE_DEPTH (it
// marks geometric edges instead, found in the foreground's depth: where drawn and empty pixels meet
// or the depth bends; so sprites, particles and textures, which MSAA does not smooth either, stay
// as they are), SAMPLES4 (instead of the area under the edge, the share of MSAA's 4 sample points
// in u_samples it covers: 4x's quarter steps where the reconstructed edge is right), SEARCH_STEPS
// (8 or 12: how far the walk along an edge reaches, 12 or 24 pixels each way; default 8).

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

uniform sampler2D u_source;           // RGBA16F linear premultiplied, the target's size; bilinear, clamped
uniform float u_subpix;               // 0..1: how much a one-pixel feature is smoothed (FXAA's subpix)
uniform float u_edge_threshold;       // contrast needed, relative to the brightest neighbour
uniform float u_edge_threshold_min;   // ... and at least this much (skips dark noise)
uniform vec2 u_samples[4];            // SAMPLES4: MSAA's sample points in a pixel, (0, 0) its bottom left

out vec4 f_color;

#if !defined SEARCH_STEPS
#define SEARCH_STEPS 8
#endif
#if SEARCH_STEPS == 12
const float STEP[12] = float[](1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 4.0, 8.0);
#else
const float STEP[8] = float[](1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 4.0, 8.0);
#endif

// What an edge is measured in: half coverage, half perceptual brightness (sqrt of linear luma),
// so a silhouette is an edge whatever the plate behind it, and so is a seam inside the object.
float edge_luma(vec4 c) {
    return 0.5 * (c.a + sqrt(clamp(dot(c.rgb, vec3(0.2126, 0.7152, 0.0722)), 0.0, 1.0)));
}

float luma_at(ivec2 p, ivec2 hi) {
    return edge_luma(texelFetch(u_source, clamp(p, ivec2(0), hi), 0));
}

// The cross around px (centre luma m): its S, E, N, W lumas, their largest value and range.
struct Cross {
    float m, s, e, n, w, top, range;
};

Cross cross_at(ivec2 px, ivec2 hi, float m) {
    Cross c;
    c.m = m;
    c.s = luma_at(px + ivec2(0, 1), hi);
    c.e = luma_at(px + ivec2(1, 0), hi);
    c.n = luma_at(px + ivec2(0, -1), hi);
    c.w = luma_at(px + ivec2(-1, 0), hi);
    c.top = max(max(max(c.s, c.e), max(c.n, c.w)), m);
    c.range = c.top - min(min(min(c.s, c.e), min(c.n, c.w)), m);
    return c;
}

// Enough contrast across the cross to be an edge (FXAA's thresholds).
bool contrasted(Cross c) {
    return c.range >= max(u_edge_threshold_min, c.top * u_edge_threshold);
}

float luma_lod(vec2 uv) {
    return edge_luma(textureLod(u_source, uv, 0.0));
}

#if defined MARK_EDGES

#if defined USE_DEPTH
uniform sampler2D u_depth;  // the foreground's window depth (1 = nothing drawn), laid out like u_source
uniform float u_crease;     // a bend of the depth, relative to (1 - depth), that counts as an edge

float depth_at(ivec2 p, ivec2 hi) {
    return texelFetch(u_depth, clamp(p, ivec2(0), hi), 0).r;
}

// Drawn and empty pixels meet, or the depth's second difference is no plane's (a silhouette over
// another surface, or a crease between triangles).
bool geometric_edge(ivec2 px, ivec2 hi) {
    float m = depth_at(px, hi);
    float n = depth_at(px + ivec2(0, -1), hi);
    float s = depth_at(px + ivec2(0, 1), hi);
    float e = depth_at(px + ivec2(1, 0), hi);
    float w = depth_at(px + ivec2(-1, 0), hi);
    bvec4 empty = greaterThanEqual(vec4(n, s, e, w), vec4(1.0));
    bool mixed = m >= 1.0 ? any(not(empty)) : any(empty);
    float bend = max(abs(n + s - 2.0 * m), abs(e + w - 2.0 * m));
    return mixed || (m < 1.0 && bend > u_crease * (1.0 - m));
}
#endif

void main() {
    ivec2 hi = textureSize(u_source, 0) - 1;
    ivec2 px = ivec2(gl_FragCoord.xy);
    vec4 centre = texelFetch(u_source, px, 0);
    f_color = centre;  // exact: the filter pass overwrites edge pixels only
#if defined USE_DEPTH
    // Geometry alone (cheaper than colours; the filter drops edges without contrast).
    bool edge = geometric_edge(px, hi);
#else
    bool edge = contrasted(cross_at(px, hi, edge_luma(centre)));
#endif
    gl_FragDepth = edge ? 0.0 : 1.0;
}

#else

void main() {
    ivec2 size = textureSize(u_source, 0);
    ivec2 hi = size - 1;
    ivec2 px = ivec2(gl_FragCoord.xy);
    vec2 rcp = 1.0 / vec2(size);
    vec2 posM = (vec2(px) + 0.5) * rcp;

    // 1. The cross, and its contrast (MARK_EDGES tested it, unless it marked by depth).
    Cross cross = cross_at(px, hi, luma_at(px, hi));
    float lumaM = cross.m, lumaS = cross.s, lumaE = cross.e, lumaN = cross.n, lumaW = cross.w;
    float range = cross.range;
    bool contrast = contrasted(cross);

    // 2. The edge's direction from second differences over the 3x3 block.
    float lumaNW = luma_at(px + ivec2(-1, -1), hi);
    float lumaSE = luma_at(px + ivec2(1, 1), hi);
    float lumaNE = luma_at(px + ivec2(1, -1), hi);
    float lumaSW = luma_at(px + ivec2(-1, 1), hi);
    float edgeHorz = abs(lumaNW + lumaSW - 2.0 * lumaW) + 2.0 * abs(lumaN + lumaS - 2.0 * lumaM)
                   + abs(lumaNE + lumaSE - 2.0 * lumaE);
    float edgeVert = abs(lumaNW + lumaNE - 2.0 * lumaN) + 2.0 * abs(lumaW + lumaE - 2.0 * lumaM)
                   + abs(lumaSW + lumaSE - 2.0 * lumaS);
    bool horzSpan = edgeHorz >= edgeVert;  // a horizontal edge: step across it in y

    // Sub-pixel smoothing: how much the pixel stands out of its 3x3 average.
    float subpixA = 2.0 * (lumaN + lumaS + lumaW + lumaE) + (lumaNW + lumaSW + lumaNE + lumaSE);
    float subpixC = clamp(abs(subpixA / 12.0 - lumaM) / max(range, 1e-6), 0.0, 1.0);
    float subpixF = (-2.0 * subpixC + 3.0) * subpixC * subpixC;
    float subpixH = subpixF * subpixF * u_subpix;

    // 3. Which side the edge lies on: the neighbour with the larger gradient.
    if (!horzSpan) {
        lumaN = lumaW;
        lumaS = lumaE;
    }
    float lengthSign = horzSpan ? rcp.y : rcp.x;
    float gradientN = lumaN - lumaM;
    float gradientS = lumaS - lumaM;
    bool pairN = abs(gradientN) >= abs(gradientS);
    float gradient = max(abs(gradientN), abs(gradientS));
    if (pairN) lengthSign = -lengthSign;
    float lumaNN = (pairN ? lumaN : lumaS) + lumaM;  // twice the luma on the edge itself

    // 4. Walk along the edge (half a pixel across it, where bilinear lookups average both sides)
    // until the luma leaves the edge's, both ways.
    vec2 posB = posM;
    vec2 offNP = horzSpan ? vec2(rcp.x, 0.0) : vec2(0.0, rcp.y);
    if (horzSpan) posB.y += 0.5 * lengthSign;
    else posB.x += 0.5 * lengthSign;
    vec2 posN = posB - offNP * STEP[0];
    vec2 posP = posB + offNP * STEP[0];
    float gradientScaled = 0.25 * gradient;
    float lumaMM = lumaM - 0.5 * lumaNN;
    float lumaEndN = luma_lod(posN) - 0.5 * lumaNN;
    float lumaEndP = luma_lod(posP) - 0.5 * lumaNN;
    bool doneN = abs(lumaEndN) >= gradientScaled;
    bool doneP = abs(lumaEndP) >= gradientScaled;
    for (int i = 1; i < SEARCH_STEPS; ++i) {
        if (doneN && doneP) break;
        if (!doneN) {
            posN -= offNP * STEP[i];
            lumaEndN = luma_lod(posN) - 0.5 * lumaNN;
            doneN = abs(lumaEndN) >= gradientScaled;
        }
        if (!doneP) {
            posP += offNP * STEP[i];
            lumaEndP = luma_lod(posP) - 0.5 * lumaNN;
            doneP = abs(lumaEndP) >= gradientScaled;
        }
    }

    // 5. The area a straight edge between the two ends covers of this pixel's neighbour: 0.5 at
    // an end of the step, 0 in its middle; only from the end whose luma turns the right way.
    float dstN = horzSpan ? posM.x - posN.x : posM.y - posN.y;
    float dstP = horzSpan ? posP.x - posM.x : posP.y - posM.y;
    bool directionN = dstN < dstP;
    bool lumaMLTZero = lumaMM < 0.0;
    bool goodSpan = directionN ? ((lumaEndN < 0.0) != lumaMLTZero) : ((lumaEndP < 0.0) != lumaMLTZero);
    float pixelOffset = 0.5 - min(dstN, dstP) / (dstN + dstP);
#if defined SAMPLES4
    // 6. The edge as a line across this pixel: `pixelOffset` into it from the side it shares with
    // the neighbour, at the centre, rising by 1 / span a pixel toward the nearer end. Samples
    // on the neighbour's side of it take the neighbour's colour, as MSAA's would.
    float span = (dstN + dstP) / (horzSpan ? rcp.x : rcp.y);
    float rise = (directionN ? -1.0 : 1.0) / span;
    float covered = 0.0;
    for (int i = 0; i < 4; ++i) {
        vec2 sp = u_samples[i];
        float along = horzSpan ? sp.x : sp.y;
        float across = horzSpan ? sp.y : sp.x;
        float into = lengthSign > 0.0 ? 1.0 - across : across;  // from the shared side
        covered += into < pixelOffset + rise * (along - 0.5) ? 1.0 : 0.0;
    }
    ivec2 step_ = horzSpan ? ivec2(0, lengthSign > 0.0 ? 1 : -1) : ivec2(lengthSign > 0.0 ? 1 : -1, 0);
    vec4 here = texelFetch(u_source, px, 0);
    vec4 there = texelFetch(u_source, clamp(px + step_, ivec2(0), hi), 0);
    f_color = goodSpan && contrast ? mix(here, there, 0.25 * covered) : here;
}

#else
    float offset = contrast ? max(goodSpan ? pixelOffset : 0.0, subpixH) : 0.0;

    // 6. One bilinear lookup that far across the edge: a convex blend of premultiplied texels.
    vec2 pos = posM;
    if (horzSpan) pos.y += offset * lengthSign;
    else pos.x += offset * lengthSign;
    f_color = textureLod(u_source, pos, 0.0);
}
#endif  // SAMPLES4

#endif  // MARK_EDGES
#endif
