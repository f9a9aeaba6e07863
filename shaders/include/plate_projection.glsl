// Plate projections (hybridscene.plate.projection, numpy twins plate_uv / plate_directions).
// A plate mapping (the mat3 u_plate_from_ndc) gives, per frame pixel, either the plate's image
// coordinates (u w, v w, w) directly (projection 0: a perspective plate, or one fitted to the
// frame: a homography) or the world direction the pixel looks along (1: cylindrical, 2:
// equirectangular plates). plate_q() turns both into (u w, v w, w), w = the plate's depth measure
// per unit of the direction (cylindrical: horizontal distance; equirectangular: distance), so
// q.xy / q.z is the texture coordinate and depth / q.z the view depth of a plate depth, whatever
// the projection. ALU only (no texture fetch): a software rasteriser runs both sides of a branch.
#ifndef PLATE_PROJECTION_GLSL
#define PLATE_PROJECTION_GLSL

// lens = (1 / fov_x in radians, vertical scale, horizon row): u = 0.5 + azimuth / fov_x;
// cylindrical v = horizon - scale * y / r (scale = focal length / image height), equirectangular
// v = horizon - scale * elevation (scale = 1 / fov_y in radians). Azimuth 0 = -Z, +X right.
vec3 plate_q(vec3 p, int projection, vec3 lens) {
    if (projection == 0) return p;
    float r = max(length(p.xz), 1e-20);
    float w = projection == 1 ? r : length(p);
    float vertical = projection == 1 ? p.y / r : atan(p.y, r);
    vec2 uv = vec2(0.5 + atan(p.x, -p.z) * lens.x, lens.z - vertical * lens.y);
    return vec3(uv * w, w);
}

// A texture lookup at uv = q.xy / q.z with the derivatives' jump across the azimuth's seam
// removed (u jumps by 2 pi / fov_x straight behind the camera), so the pixels along the seam
// are filtered like their neighbours instead of with the smallest mip level.
#if defined FRAGMENT_SHADER
vec4 plate_texture_wrapped(sampler2D tex, vec3 q, vec3 lens) {
    vec2 uv = q.xy / q.z;
    vec2 dx = dFdx(uv);
    vec2 dy = dFdy(uv);
    float period = 6.2831853 * lens.x;
    dx.x -= period * round(dx.x / period);
    dy.x -= period * round(dy.x / period);
    return textureGrad(tex, uv, dx, dy);
}
#endif

#endif
