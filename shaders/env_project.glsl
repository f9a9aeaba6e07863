#version 330 core
// Environment, step 1: the plate around the scene. Each texel of an equirect target (row 0 at
// the zenith) looks along its direction; where the plate's camera sees it, the plate is sampled
// (an sRGB texture, decoded to linear by the sampler). Elsewhere it is filled plausibly:
// * left, right and behind: the plate mirrored (azimuths beyond the frame fold back into it, the
//   direction straight behind the camera shows the plate's middle), so the fill is continuous;
// * above the frame: the plate's top row at that azimuth, blurred more and more (no streaks) and fading
//   toward the mean sky colour with elevation (the zenith is the mean sky);
// * below the frame: the bottom row fading toward the mean ground colour (the nadir).
// A cylindrical or equirectangular plate (u_projection 1, 2) is mapped by azimuth directly: a
// full turn needs no fill sideways; a partial one is mirrored beyond its sides like the others.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

#include "include/environment.glsl"

in vec2 v_uv;  // (u, v) of the equirect: gl_FragCoord row 0 = texel row 0 = the zenith

uniform sampler2D u_plate;     // the plate, sRGB, mipmapped, row 0 = the image's top
uniform vec2 u_focal;          // focal length / (plate width, plate height)
uniform float u_horizon;       // horizon row / plate height (0 = top)
uniform float u_plate_lod;     // plate mip level whose texels match an environment texel
uniform vec3 u_sky_mean;       // linear mean colour of the plate's sky (its top rows)
uniform vec3 u_ground_mean;    // linear mean colour of the plate's lower rows
uniform int u_projection;      // 0 perspective, 1 cylindrical, 2 equirectangular
uniform vec3 u_lens;           // 1, 2: (1 / fov_x, vertical scale, horizon), include/plate_projection.glsl

out vec4 f_color;

const float HALF_PI = 1.5707963;

void main() {
    vec3 d = env_dir_from_uv(v_uv);
    float phi = atan(d.x, -d.z);                       // azimuth, 0 straight ahead
    float el = clamp(asin(clamp(d.y, -1.0, 1.0)), -HALF_PI + 1e-3, HALF_PI - 1e-3);
    // 1. Fold the azimuth into the frame: a mirror image beyond its sides, the middle behind.
    bool perspective = u_projection == 0;
    float phi_max = perspective ? atan(0.5 / u_focal.x) : 0.5 / u_lens.x;
    float a = abs(phi);
    float folded = a <= phi_max ? a : phi_max * (ENV_PI - a) / (ENV_PI - phi_max);
    float p = sign(phi) * folded;
    float u = perspective ? 0.5 + u_focal.x * tan(p) : 0.5 + p * u_lens.x;
    // 2. The row at this elevation (x / -z = tan p, y / -z = tan el / cos p for a level camera;
    //    cylindrical rows are a pinhole's at every azimuth, equirectangular rows are elevation).
    float v = perspective ? u_horizon - u_focal.y * tan(el) / cos(p)
            : u_projection == 1 ? u_horizon - u_lens.y * tan(el) : u_horizon - u_lens.y * el;
    // The elevations of the plate's top and bottom edges at this azimuth.
    float top = perspective ? atan(u_horizon * cos(p) / u_focal.y)
              : u_projection == 1 ? atan(u_horizon / u_lens.y) : u_horizon / u_lens.y;
    float bottom = perspective ? atan((u_horizon - 1.0) * cos(p) / u_focal.y)
                 : u_projection == 1 ? atan((u_horizon - 1.0) / u_lens.y) : (u_horizon - 1.0) / u_lens.y;
    float edge_lod = u_plate_lod + 2.0;
    vec3 c;
    if (v < 0.0) {
        // 3. Above the frame: the top row, fading to the mean sky by the zenith.
        float t = clamp((el - top) / max(HALF_PI - top, 1e-3), 0.0, 1.0);
        vec3 row = textureLod(u_plate, vec2(u, 0.0), edge_lod + 5.0 * sqrt(t)).rgb;
        c = mix(row, u_sky_mean, smoothstep(0.0, 0.6, t));
    } else if (v > 1.0) {
        // 4. Below the frame: the bottom row, fading to the mean ground by the nadir.
        float t = clamp((bottom - el) / max(bottom + HALF_PI, 1e-3), 0.0, 1.0);
        vec3 row = textureLod(u_plate, vec2(u, 1.0), edge_lod + 5.0 * sqrt(t)).rgb;
        c = mix(row, u_ground_mean, smoothstep(0.0, 0.5, t));
    } else {
        // 5. Inside: the plate, softened toward the blurred edge rows over the outer 4 %.
        c = textureLod(u_plate, vec2(u, v), u_plate_lod).rgb;
        float near = smoothstep(0.04, 0.0, min(v, 1.0 - v));
        if (near > 0.0) {
            vec3 edge = textureLod(u_plate, vec2(u, v < 0.5 ? 0.0 : 1.0), edge_lod).rgb;
            c = mix(c, edge, 0.5 * near);
        }
    }
    f_color = vec4(c, 1.0);
}

#endif
