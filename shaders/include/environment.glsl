// Image-based light: the environment around the scene (hybridscene/scene/environment.py states
// the conventions; the numpy twins of env_uv_from_dir, env_dir_from_uv and env_sh_basis are there
// and must match these).
//
// * Directions: +Y up, the plate's camera looks down -Z, +X right (the scene's world frame;
//   u_env_rotation turns world directions into environment ones).
// * Equirect: u = atan(x, -z) / 2pi + 0.5 (0.5 straight ahead, the seam behind, at +Z),
//   v = acos(y) / pi, with texel row 0 at the zenith (the top row, like every image).
// * Radiance is linear light; mip level k is prefiltered for GGX perceptual roughness
//   k / u_env_max_lod. Irradiance is 9 SH coefficients already convolved with the clamped
//   cosine and divided by pi: env_diffuse() times an albedo is the Lambert diffuse.

uniform sampler2D u_env_radiance;   // RGB(A)16F equirect, linear light, mip k = roughness k / u_env_max_lod
uniform sampler2D u_brdf_lut;       // RG16F split-sum (scale, bias) for F0: x = N.V, y = perceptual roughness
uniform vec3 u_env_sh[9];           // irradiance SH, linear RGB, pre-convolved: env_diffuse(n) = E(n) / pi
uniform float u_env_intensity;      // multiplier (1 = the plate's brightness)
uniform float u_env_max_lod;        // number of prefiltered levels - 1
uniform mat3 u_env_rotation;        // world direction -> environment direction

const float ENV_PI = 3.14159265358979;

// Unit environment direction -> equirect (u, v), v = 0 at the zenith.
vec2 env_uv_from_dir(vec3 d) {
    float phi = abs(d.x) + abs(d.z) > 1e-12 ? atan(d.x, -d.z) : 0.0;  // atan(0, 0) is undefined
    return vec2(phi * (0.5 / ENV_PI) + 0.5, acos(clamp(d.y, -1.0, 1.0)) / ENV_PI);
}

// Equirect (u, v) -> unit environment direction.
vec3 env_dir_from_uv(vec2 uv) {
    float phi = (uv.x - 0.5) * 2.0 * ENV_PI;
    float theta = uv.y * ENV_PI;
    return vec3(sin(theta) * sin(phi), cos(theta), -sin(theta) * cos(phi));
}

// Real spherical harmonic i (0..8) at unit direction d, order 1, y, z, x, xy, yz, 3z^2-1, xz, x^2-y^2.
float env_sh_basis(int i, vec3 d) {
    if (i == 0) return 0.282095;
    if (i == 1) return 0.488603 * d.y;
    if (i == 2) return 0.488603 * d.z;
    if (i == 3) return 0.488603 * d.x;
    if (i == 4) return 1.092548 * d.x * d.y;
    if (i == 5) return 1.092548 * d.y * d.z;
    if (i == 6) return 0.315392 * (3.0 * d.z * d.z - 1.0);
    if (i == 7) return 1.092548 * d.x * d.z;
    return 0.546274 * (d.x * d.x - d.y * d.y);
}

// Irradiance / pi around world normal n (Lambert diffuse per unit albedo), times the intensity.
vec3 env_diffuse(vec3 n_world) {
    vec3 d = normalize(u_env_rotation * n_world);
    vec3 e = u_env_sh[0] * 0.282095
           + 0.488603 * (u_env_sh[1] * d.y + u_env_sh[2] * d.z + u_env_sh[3] * d.x)
           + 1.092548 * (u_env_sh[4] * d.x * d.y + u_env_sh[5] * d.y * d.z + u_env_sh[7] * d.x * d.z)
           + u_env_sh[6] * (0.315392 * (3.0 * d.z * d.z - 1.0))
           + u_env_sh[8] * (0.546274 * (d.x * d.x - d.y * d.y));
    return max(e, vec3(0.0)) * u_env_intensity;
}

// Prefiltered radiance along world reflection r for perceptual roughness 0..1, times the intensity.
vec3 env_specular(vec3 r_world, float roughness) {
    vec3 d = normalize(u_env_rotation * r_world);
    float lod = clamp(roughness, 0.0, 1.0) * u_env_max_lod;
    return textureLod(u_env_radiance, env_uv_from_dir(d), lod).rgb * u_env_intensity;
}

// Split-sum (scale, bias): specular = env_specular(r, roughness) * (F0 * scale + bias).
// The LUT's texel centres sit on N.V, roughness = i / (n - 1), so 0 and 1 are exact.
vec2 env_brdf(float n_dot_v, float roughness) {
    vec2 n = vec2(textureSize(u_brdf_lut, 0));
    vec2 uv = (clamp(vec2(n_dot_v, roughness), 0.0, 1.0) * (n - 1.0) + 0.5) / n;
    return texture(u_brdf_lut, uv).rg;
}

// -- Sampling helpers of the build passes (env_prefilter, env_brdf) ---------------------------

// Point i of an n-point Hammersley set in [0, 1)^2.
vec2 env_hammersley(uint i, uint n) {
    uint b = i;
    b = (b << 16u) | (b >> 16u);
    b = ((b & 0x55555555u) << 1u) | ((b & 0xAAAAAAAAu) >> 1u);
    b = ((b & 0x33333333u) << 2u) | ((b & 0xCCCCCCCCu) >> 2u);
    b = ((b & 0x0F0F0F0Fu) << 4u) | ((b & 0xF0F0F0F0u) >> 4u);
    b = ((b & 0x00FF00FFu) << 8u) | ((b & 0xFF00FF00u) >> 8u);
    return vec2(float(i) / float(n), float(b) * 2.3283064365386963e-10);
}

// A GGX half vector (alpha = roughness^2) around +Z for the point xi, importance-sampled by D(h) (h.n).
vec3 env_ggx_half(vec2 xi, float alpha) {
    float phi = 2.0 * ENV_PI * xi.x;
    float a2 = alpha * alpha;
    float cos_t = sqrt((1.0 - xi.y) / (1.0 + (a2 - 1.0) * xi.y));
    float sin_t = sqrt(max(1.0 - cos_t * cos_t, 0.0));
    return vec3(sin_t * cos(phi), sin_t * sin(phi), cos_t);
}

// The tangent-space vector v around the unit normal n (world).
vec3 env_around(vec3 v, vec3 n) {
    vec3 up = abs(n.y) < 0.999 ? vec3(0.0, 1.0, 0.0) : vec3(1.0, 0.0, 0.0);
    vec3 t = normalize(cross(up, n));
    vec3 b = cross(n, t);
    return t * v.x + b * v.y + n * v.z;
}
