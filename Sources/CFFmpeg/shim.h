// FFmpeg's libraries as one Clang module for Swift (Debian's libav*-dev, FFmpeg 5.1).
#ifndef SLUICE_CFFMPEG_SHIM_H
#define SLUICE_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/audio_fifo.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

// Macros Swift cannot import.
static inline int sluice_averror(int code) { return AVERROR(code); }
static inline int sluice_averror_eof(void) { return AVERROR_EOF; }
static inline int64_t sluice_no_pts(void) { return AV_NOPTS_VALUE; }
static inline AVRational sluice_time_base_q(void) { return AV_TIME_BASE_Q; }

#endif
